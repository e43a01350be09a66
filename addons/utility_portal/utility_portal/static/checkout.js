// The portal's card checkout: Stripe.js collects the card and confirms the
// bill's PaymentIntent, then the customer goes back to the portal, which
// asks Stripe how the payment stands.
(function () {
    'use strict';
    var form = document.getElementById('checkout-form');
    if (!form) {
        return;
    }
    var button = document.getElementById('checkout-submit');
    var errors = document.getElementById('card-errors');
    if (typeof window.Stripe !== 'function') {
        document.getElementById('checkout-unavailable').hidden = false;
        return;
    }
    var stripe = window.Stripe(form.dataset.key,
        {locale: form.dataset.locale || 'auto'});
    var card = stripe.elements().create('card');
    card.mount('#card-element');
    button.hidden = false;

    function showError(message) {
        errors.textContent = message;
        errors.hidden = false;
        button.disabled = false;
    }

    form.addEventListener('submit', function (event) {
        event.preventDefault();
        button.disabled = true;
        errors.hidden = true;
        stripe.confirmCardPayment(form.dataset.secret, {
            payment_method: {card: card},
        }).then(function (result) {
            if (result.error) {
                showError(result.error.message || String(result.error));
            } else {
                window.location.assign(form.dataset.return);
            }
        }, function (error) {
            showError(String(error));
        });
    });
}());
