// Progressive enhancement only: every page works without this file.
// Copy buttons: <button class="copy" data-copy="ID"> copies the text of element #ID.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    // No clipboard access (plain HTTP, old browser): select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});

// Copy buttons are hidden until this script runs, so nobody sees a button that does nothing.
document.querySelectorAll("button[data-copy]").forEach((button) => { button.hidden = false; });

// Forms marked data-confirm ask before submitting (the server still requires the POST).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
