// Progressive enhancement: a <time datetime="…" data-local> element shows the time in the
// browser's time zone. The server wrote it in UTC, and that UTC text stays in the element's
// title, so hovering still shows UTC. Without JavaScript the UTC text stays as it is.
(() => {
  const options = {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  };
  document.querySelectorAll('time[datetime][data-local]').forEach((el) => {
    const t = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(t.getTime())) return;
    if (!el.title) el.title = el.textContent;
    try {
      el.textContent = t.toLocaleString(undefined, options);
    } catch (e) {
      el.textContent = t.toLocaleString();
    }
  });
})();
