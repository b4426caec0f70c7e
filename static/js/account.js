// The account page's "Copy API token" button (a file of its own: the CSP allows no inline
// script).
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copyTarget);
      var status = document.getElementById("copy-status");
      field.select();
      var done = function () { status.textContent = "Copied. Paste it where you need it."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });
})();
