// The token page is shown once. A browser may keep the page in its back/forward cache even
// under Cache-Control: no-store, and show it again on Forward without asking the portal. So,
// when the page is left, the token and the commands that carry it are removed from it; if the
// browser brings the page back from that cache anyway, it is loaded again from the portal,
// which answers that the token was shown once.
window.addEventListener('pagehide', () => {
  document.querySelectorAll('[data-shown-once]').forEach((el) => {
    if ('value' in el) el.value = '';
    el.textContent = '';
  });
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});
