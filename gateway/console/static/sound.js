// A short alarm made with WebAudio (no sound file). Browsers start audio only after a user gesture,
// so the context is created by the first click or key press on the page (the login counts).
let context = null;
let enabled = localStorage.getItem("panic-console-sound") !== "off";

function unlock() {
  if (!context && window.AudioContext) context = new AudioContext();
  if (context && context.state === "suspended") context.resume();
}
window.addEventListener("pointerdown", unlock);
window.addEventListener("keydown", unlock);

export function soundEnabled() { return enabled; }

export function setSound(on) {
  enabled = on;
  localStorage.setItem("panic-console-sound", on ? "on" : "off");
}

// Three rising beeps; `silent` SOS alerts get the same: the sound is in the operations room, not at the premises.
export function beep() {
  if (!enabled || !context) return;
  const start = context.currentTime;
  for (let i = 0; i < 3; i++) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "square";
    oscillator.frequency.value = 880 + i * 220;
    gain.gain.setValueAtTime(0.0001, start + i * 0.25);
    gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.25 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.25 + 0.2);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start + i * 0.25);
    oscillator.stop(start + i * 0.25 + 0.22);
  }
}
