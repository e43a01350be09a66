// Progressive enhancements only: every page works without this file.
(function () {
    'use strict';
    document.addEventListener('DOMContentLoaded', function () {
        // Move focus to the error summary so screen readers read it.
        var errors = document.getElementById('errors');
        if (errors) {
            errors.focus();
        }
        // No double submission of a form.
        document.querySelectorAll('form[method=post]').forEach(
            function (form) {
                form.addEventListener('submit', function () {
                    var button = form.querySelector('button[type=submit]');
                    if (button) {
                        window.setTimeout(function () {
                            button.disabled = true;
                        }, 0);
                    }
                });
            });
    });
}());
