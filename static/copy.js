// Progressive enhancement: a copy button for elements marked data-copy="<id>" (a textarea's
// value, or the text of a <pre>). When the clipboard refuses, the text is selected instead.
document.querySelectorAll('[data-copy]').forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(source.value || source.textContent);
      button.textContent = 'Copied';
    } catch (e) {
      if (source.select) {
        source.select();
      } else {
        window.getSelection().selectAllChildren(source);
      }
      button.textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => { button.textContent = label; }, 3000);
  });
});
