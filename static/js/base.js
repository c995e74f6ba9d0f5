// Behaviour every page shares. The content security policy allows no inline script, so pages
// declare behaviour with data attributes and this file wires it up.
(function () {
  "use strict";
  // <select data-autosubmit>: choosing an option submits its form (the workspace switcher, filters).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });
  // <button data-confirm="..."> asks before submitting its form.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
