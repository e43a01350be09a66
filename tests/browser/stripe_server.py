"""The fake Stripe of the browser tests: utility_payment's localstripe
(patched for account_payment_stripe) plus what a browser needs of it.

- Stripe.js at /js.stripe.com/v3/ is localstripe's, with
  ``confirmCardPayment(clientSecret, {payment_method: {card}})`` confirming
  the PaymentIntent with the card typed in the element (localstripe's only
  plays a 3-D Secure dialog);
- ``POST /v1/payment_intents/<id>/confirm`` accepts, as Stripe does from
  Stripe.js, the publishable key with the intent's client secret.

    python tests/browser/stripe_server.py --port 8124
"""
import argparse
import os
import re

CONFIRM = re.compile(r'^/v1/payment_intents/(\w+)/confirm$')

CONFIRM_JS = r'''
// tests/browser/stripe_server.py: confirm a PaymentIntent with the card
(function () {
  const base = LOCALSTRIPE_BASE_API;
  const localStripe = window.Stripe;
  window.Stripe = function (apiKey, options) {
    const stripe = localStripe(apiKey, options);
    stripe.confirmCardPayment = async function (clientSecret, data) {
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      const element = data && data.payment_method && data.payment_method.card;
      const card = element && element.value ? element.value.card : {};
      const response = await fetch(
        `${base}/v1/payment_intents/${pi}/confirm`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey,
            client_secret: clientSecret,
            payment_method_data: {type: 'card', card: card},
          }),
        });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) {
        return {error: body.error || {message: 'Payment failed'}};
      }
      if (body.status !== 'succeeded' && body.status !== 'processing'
          && body.status !== 'requires_capture') {
        return {error: {message: 'Payment ' + body.status}};
      }
      return {paymentIntent: body};
    };
    return stripe;
  };
})();
'''


def make_app():
    from aiohttp import web
    from localstripe import server
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent

    from utility_payment.tests.stripe_server import patch
    app = patch()

    js_path = os.path.join(os.path.dirname(server.__file__),
        'localstripe-v3.js')

    @web.middleware
    async def browser_middleware(request, handler):
        if request.method == 'GET' and request.path == '/js.stripe.com/v3/':
            with open(js_path) as fp:
                return web.Response(text=fp.read() + CONFIRM_JS,
                    content_type='application/javascript')
        match = CONFIRM.match(request.path)
        if (request.method == 'POST' and match
                and not request.headers.get('Authorization')):
            try:
                data = await server.get_post_data(request,
                    remove_auth=False) or {}
                key = data.get('key')
                if not isinstance(key, str) or not key.startswith('pk_'):
                    raise UserError(401, 'Unauthorized')
                intent = PaymentIntent._api_retrieve(match.group(1))
                if data.get('client_secret') != intent.client_secret:
                    raise UserError(401, 'Unauthorized')
                intent = PaymentIntent._api_confirm(match.group(1),
                    payment_method_data=data.get('payment_method_data'))
                return server.json_response(intent._export())
            except UserError as e:
                return e.to_response()
        return await handler(request)

    app.middlewares.insert(0, browser_middleware)
    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args()
    from aiohttp import web
    web.run_app(make_app(), host='127.0.0.1', port=args.port, print=None,
        access_log=None)


if __name__ == '__main__':
    main()
