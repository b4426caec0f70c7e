// The image page's small helpers: Copy buttons for share links, and typing a date and time
// picks "At a date and time I choose". Without this script the page works the same: the
// address can be selected by hand, and the portal asks for the right choice if a date is typed.
(function () {
  "use strict";

  if (navigator.clipboard && window.isSecureContext) {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
      var field = document.getElementById(button.dataset.copy);
      if (!field) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          button.textContent = "Copied";
          window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () {
          field.select();
        });
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[name=expires_at]"), function (field) {
    var chosen = field.form.querySelector("input[name=expiry][value=at]");
    if (!chosen) {
      return;
    }
    field.addEventListener("input", function () {
      if (field.value) {
        chosen.checked = true;
      }
    });
  });
})();
