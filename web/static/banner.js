// The banner: errors of the session that belong to no field or forward.
// It clears when the session recovers (a later success) or is dismissed.
import { $ } from "./dom.js";

export function showBanner(text) {
  $("banner-text").textContent = text;
  $("banner").hidden = false;
}

export function clearBanner() {
  $("banner").hidden = true;
  $("banner-text").textContent = "";
}

export function initBanner() {
  $("banner-close").addEventListener("click", clearBanner);
  document.addEventListener("tunnelkit:forwards-changed", clearBanner);
}
