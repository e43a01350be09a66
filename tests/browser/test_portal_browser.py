"""Portal journeys in Debian's Chromium (headless), with axe-core on every
page and screenshots at phone, tablet and desktop widths.

Needs a trytond serving a database with the billing and portal demo data
(tests/browser/run.sh prepares one):

    PORTAL_URL=http://127.0.0.1:8123/DB/portal pytest tests/browser
"""
import os
import pathlib
import re

import pytest

playwright = pytest.importorskip('playwright.sync_api')

HERE = pathlib.Path(__file__).resolve().parent
AXE = HERE.parent / 'node_modules' / 'axe-core' / 'axe.min.js'
URL = os.environ.get('PORTAL_URL',
    'http://127.0.0.1:8123/portal_browser/portal').rstrip('/')
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
SHOTS = pathlib.Path(os.environ.get('PORTAL_SCREENSHOTS',
        '/tmp/portal_screenshots'))
PASSWORD = os.environ.get('PORTAL_PASSWORD', 'portal-demo-2024')
CUSTOMER = 'customer@example.com'
LANDLORD = 'landlord@example.com'
WIDTHS = [360, 768, 1280]
AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']


@pytest.fixture(scope='session')
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
            args=['--no-sandbox'])
        yield browser
        browser.close()


def new_page(browser, width=1280):
    # axe is injected as an inline script: the portal's CSP forbids it.
    context = browser.new_context(viewport={'width': width, 'height': 800},
        bypass_csp=True, accept_downloads=True)
    return context.new_page()


def check_axe(page, inject=True):
    if inject:
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: tags})", AXE_TAGS)
    violations = [(v['id'], v['help'], [n['target'] for n in v['nodes']])
        for v in result['violations']]
    assert violations == [], (page.url, violations)


def shot(page, name, width):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / ('%s-%s.png' % (name, width))),
        full_page=True)


def login(page, email=CUSTOMER, password=PASSWORD):
    page.goto(URL + '/login')
    page.get_by_label('E-mail').fill(email)
    page.get_by_label('Password').fill(password)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_url(re.compile(r'.*/dashboard$'))


PUBLIC = ['/login', '/signup', '/forgot-password']
PRIVATE = ['/dashboard', '/bills', '/reading', '/usage', '/requests',
    '/requests/new', '/profile', '/password', '/payments',
    '/payments/history']


@pytest.mark.parametrize('width', WIDTHS)
def test_pages_axe_and_screenshots(browser, width):
    "Every page: no axe violation, no horizontal scroll, a screenshot"
    page = new_page(browser, width)
    for path in PUBLIC:
        page.goto(URL + path)
        check_axe(page)
        shot(page, path.strip('/').replace('/', '_'), width)
    login(page)
    bill = page.locator('a[href*="/bills/"]').first.get_attribute('href')
    for path in PRIVATE + [bill[bill.index('/bills/'):]]:
        page.goto(URL + path)
        assert page.locator('h1').count() == 1
        check_axe(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, (path, width)
        name = 'bill' if path.startswith('/bills/') else (
            path.strip('/').replace('/', '_'))
        shot(page, name, width)
    page.goto(URL + '/bills/99999999')
    assert 'Page not found' in page.content()
    check_axe(page)
    shot(page, 'error', width)
    page.context.close()


def test_keyboard_skip_link_and_login(browser):
    "Keyboard only: skip link first, then the form, Enter submits"
    page = new_page(browser, 360)
    page.goto(URL + '/login')
    page.keyboard.press('Tab')
    focused = page.evaluate("document.activeElement.className")
    assert focused == 'skip-link'
    page.keyboard.press('Enter')
    page.keyboard.press('Tab')
    assert page.evaluate("document.activeElement.id") == 'email'
    page.keyboard.type(CUSTOMER)
    page.keyboard.press('Tab')
    page.keyboard.type(PASSWORD)
    page.keyboard.press('Enter')
    page.wait_for_url(re.compile(r'.*/dashboard$'))
    page.context.close()


def test_failed_login_announced(browser):
    page = new_page(browser)
    page.goto(URL + '/login')
    page.get_by_label('E-mail').fill('nobody@example.com')
    page.get_by_label('Password').fill('wrong password')
    page.get_by_role('button', name='Log in').click()
    alert = page.get_by_role('alert')
    assert 'not correct' in alert.inner_text()
    # The enhancement moves focus to the error summary.
    assert page.evaluate("document.activeElement.id") == 'errors'
    check_axe(page)
    page.context.close()


def test_bill_pdf_reading_request(browser):
    "View a bill, download its PDF, submit a reading, open a request"
    page = new_page(browser, 360)
    login(page)
    page.get_by_role('link', name='Bills').click()
    page.locator('tbody th a').first.click()
    assert page.locator('#pay').count() <= 1
    page.locator('summary').first.click()
    with page.expect_download() as download:
        page.get_by_role('link', name='Download PDF').first.click()
    path = download.value.path()
    with open(path, 'rb') as fp:
        assert fp.read(4) == b'%PDF'

    page.goto(URL + '/reading')
    page.get_by_label('Meter reading').fill('1')
    page.get_by_role('button', name='Submit a reading').click()
    assert 'not accepted' in page.get_by_role('alert').inner_text()
    check_axe(page)
    shot(page, 'reading_rejected', 360)

    page.goto(URL + '/requests/new')
    page.get_by_label('Kind of request').select_option('meter_repair')
    page.get_by_label('Subject').fill('Display is blank')
    page.get_by_label('Message').fill('The meter display shows nothing.')
    page.get_by_role('button', name='Send').click()
    assert 'Your request was opened' in page.get_by_role(
        'status').inner_text()
    assert 'The meter display shows nothing.' in page.content()
    check_axe(page)
    shot(page, 'request', 360)
    page.context.close()


def test_switcher_and_idor(browser):
    "A landlord switches accounts; a customer cannot open their bills"
    page = new_page(browser, 768)
    login(page, LANDLORD)
    switcher = page.get_by_label('Account')
    options = switcher.locator('option').all_inner_texts()
    # two customers, each with several services
    assert len(options) >= 2
    switcher.select_option(index=1)
    page.get_by_role('button', name='Switch').click()
    page.wait_for_url(re.compile(r'.*/dashboard$'))
    assert options[1].split(' ')[0] in page.locator(
        '.account-line').inner_text()
    shot(page, 'landlord_dashboard', 768)
    page.goto(URL + '/bills')
    href = page.locator('a[href*="/bills/"]').first.get_attribute('href')
    page.context.close()

    page = new_page(browser, 768)
    login(page)
    response = page.goto(href if href.startswith('http')
        else URL.split('/', 3)[0] + '//' + URL.split('/', 3)[2] + href)
    assert response.status == 404
    response = page.goto(URL + href[href.index('/bills/'):] + '/pdf')
    assert response.status == 404
    page.context.close()


def test_pay_bill_with_local_stripe(browser):
    """Log in, open a bill to pay, pay it by card on the portal's checkout
    (Stripe.js of the fake Stripe, under the page's real CSP) and land back
    on the portal with the bill paid"""
    context = browser.new_context(viewport={'width': 1280, 'height': 800})
    page = context.new_page()
    blocked = []
    page.on('console', lambda message: blocked.append(message.text)
        if 'Content Security Policy' in message.text else None)
    login(page)
    page.goto(URL + '/bills')
    row = page.locator('tbody tr', has_text='To pay').first
    row.locator('th a').click()
    page.wait_for_url(re.compile(r'.*/bills/\d+$'))
    bill_url = page.url
    assert page.locator('#pay').get_attribute('data-state') == 'payable'
    page.get_by_role('button', name='Pay now').click()
    page.wait_for_url(re.compile(r'.*/pay/checkout$'))
    assert page.locator('h1').inner_text() == 'Pay your bill by card'
    card = page.locator('#card-element')
    card.locator('input[placeholder=number]').fill('4242424242424242')
    card.locator('input[placeholder=exp_month]').fill('12')
    card.locator('input[placeholder=exp_year]').fill('30')
    card.locator('input[placeholder=cvc]').fill('123')
    card.locator('input[placeholder=postal_code]').fill('49007')
    # axe evaluated through the driver: the page's CSP stays on.
    page.evaluate(AXE.read_text() + ';\n0')
    check_axe(page, inject=False)
    shot(page, 'checkout', 1280)
    page.get_by_role('button', name=re.compile(r'^Pay \$')).click()
    page.wait_for_url(re.compile(r'.*/pay/return$'))
    assert 'This bill is paid' in page.get_by_role('status').inner_text()
    page.get_by_role('link', name='Back to the bill').click()
    page.wait_for_url(bill_url)
    assert page.locator('#pay').get_attribute('data-state') == 'paid'
    assert 'This bill is paid' in page.locator('#pay').inner_text()
    page.goto(URL + '/payments/history')
    assert 'Succeeded' in page.locator('table').inner_text()
    assert blocked == []
    context.close()

