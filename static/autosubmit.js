// The form_post bounce (templates/callback_form_post.html): hand the provider's answer on to
// the sign-in callback at once. A button does the same without scripts.
document.getElementById('form-post-bounce').submit();
