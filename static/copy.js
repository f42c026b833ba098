// Progressive enhancement: a copy button for elements marked data-copy="<id>".
document.querySelectorAll('[data-copy]').forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener('click', async () => {
    await navigator.clipboard.writeText(source.value || source.textContent);
    button.textContent = 'Copied';
  });
});
