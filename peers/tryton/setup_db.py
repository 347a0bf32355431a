"""Populate a freshly activated Tryton database for koppel (runs INSIDE the Tryton venv).

Called by ``peer.py template`` as::

    <venv>/bin/python setup_db.py --config trytond.conf --database DB \
        --password PW --output setup.json

It uses proteus in-process (``config.set_trytond``) and the helpers that Tryton
ships in ``trytond.modules.*.tests.tools`` (the same ones Tryton's own scenario
tests use).  It writes a JSON file describing every record it created, so that
connectors and tests need not look anything up.

Licence note: this file imports trytond (GPL-3.0-or-later) and runs only in the
Tryton venv as a separate process; koppel itself talks to Tryton over HTTP.
"""
import argparse
import datetime
import json
import sys
import time
from decimal import Decimal

T0 = time.monotonic()


def log(msg):
    print(f"[setup_db {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr,
        flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', required=True)
    parser.add_argument('--database', required=True)
    parser.add_argument('--password', required=True)
    parser.add_argument('--output', required=True)
    args = parser.parse_args()

    from proteus import Model, config as pconfig
    log("loading pool")
    cfg = pconfig.set_trytond(args.database, config_file=args.config)

    from trytond.modules.account.tests.tools import (
        create_chart, create_fiscalyear, create_tax, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences)
    from trytond.modules.company.tests.tools import create_company
    from trytond.modules.currency.tests.tools import get_currency

    today = datetime.date.today()
    out = {'created_on': today.isoformat()}

    # --- countries (created directly, no pycountry) -------------------------
    log("countries")
    Country = Model.get('country.country')
    countries = {}
    for code, code3, num, name in [
            ('DE', 'DEU', '276', 'Germany'),
            ('NL', 'NLD', '528', 'Netherlands'),
            ('AT', 'AUT', '040', 'Austria'),
            ('CH', 'CHE', '756', 'Switzerland'),
            ('FR', 'FRA', '250', 'France'),
            ('BE', 'BEL', '056', 'Belgium'),
            ('GB', 'GBR', '826', 'United Kingdom'),
            ('US', 'USA', '840', 'United States'),
            ]:
        found = Country.find([('code', '=', code)])
        if found:
            country = found[0]
        else:
            country = Country(name=name, code=code, code3=code3,
                code_numeric=num)
            country.save()
        countries[code] = country.id
    out['countries'] = countries

    # --- currencies ----------------------------------------------------------
    log("currencies")
    Currency = Model.get('currency.currency')
    Rate = Model.get('currency.currency.rate')
    eur = get_currency('EUR')
    # get_currency() gives EUR the test rate 2.0; EUR is the company currency
    # here, so make it the base (1.0) and quote the others against it.
    for rate in Rate.find([('currency', '=', eur.id)]):
        rate.rate = Decimal('1.0')
        rate.save()
    if not Rate.find([('currency', '=', eur.id)]):
        Rate(currency=eur, date=datetime.date.min, rate=Decimal('1.0')).save()
    currencies = {'EUR': eur.id}
    rates = {'EUR': '1.0'}
    for code, name, symbol, rate_value in [
            ('USD', 'U.S. Dollar', '$', Decimal('1.08')),
            ('CHF', 'Swiss Franc', 'CHF', Decimal('0.94')),
            ]:
        found = Currency.find([('code', '=', code)])
        if found:
            currency = found[0]
            for rate in currency.rates:
                rate.rate = rate_value
                rate.save()
        else:
            currency = Currency(name=name, code=code, symbol=symbol,
                rounding=Decimal('0.01'), digits=2)
            currency.save()
            Rate(currency=currency, date=datetime.date.min,
                rate=rate_value).save()
        currencies[code] = currency.id
        rates[code] = str(rate_value)
    out['currencies'] = currencies
    out['currency_rates_per_eur'] = rates

    # --- company ----------------------------------------------------------
    log("company")
    Party = Model.get('party.party')
    company_party = Party(name='Koppel Demo GmbH')
    address, = company_party.addresses
    address.street = 'Hauptstrasse 1'
    address.postal_code = '10115'
    address.city = 'Berlin'
    address.country = Country(countries['DE'])
    company_party.save()
    create_company(company_party, eur)
    Company = Model.get('company.company')
    company, = Company.find()
    out['company'] = {'id': company.id, 'party': company_party.id,
        'name': company_party.name, 'currency': eur.id}

    # --- chart of accounts -------------------------------------------------
    log("chart of accounts")
    create_chart(company)
    accounts = get_accounts(company)
    out['accounts'] = {k: v.id for k, v in accounts.items()}
    Account = Model.get('account.account')
    out['accounts_by_code'] = {
        a.code: {'id': a.id, 'name': a.name}
        for a in Account.find([('code', '!=', None)])}

    # --- fiscal years: last, this, next -----------------------------------
    log("fiscal years")
    fiscalyears = []
    for year in (today.year - 1, today.year, today.year + 1):
        fy = create_fiscalyear(company,
            (datetime.date(year, 1, 1), datetime.date(year, 12, 31)))
        fy.name = str(year)
        set_fiscalyear_invoice_sequences(fy)
        fy.click('create_period')
        fy.reload()
        # number invoices INV-<year>-0001 so the years do not clash
        SequenceStrict = Model.get('ir.sequence.strict')
        inv_seq = SequenceStrict(
            fy.invoice_sequences[0].out_invoice_sequence.id)
        inv_seq.prefix = f'INV-{year}-'
        inv_seq.padding = 4
        inv_seq.save()
        fiscalyears.append({'id': fy.id, 'name': fy.name,
            'start_date': fy.start_date.isoformat(),
            'end_date': fy.end_date.isoformat(),
            'periods': len(fy.periods),
            'invoice_sequence': inv_seq.id,
            'invoice_prefix': inv_seq.prefix})
    out['fiscalyears'] = fiscalyears

    # --- tax + product category -----------------------------------------------
    log("tax and category")
    tax = create_tax(Decimal('.19'), company)
    tax.name = tax.description = 'VAT 19%'
    tax.save()
    out['tax'] = {'id': tax.id, 'name': tax.name, 'rate': '0.19'}
    Category = Model.get('product.category')
    category = Category(name='Goods')
    category.accounting = True
    category.account_revenue = accounts['revenue']
    category.account_expense = accounts['expense']
    category.customer_taxes.append(tax)
    category.save()
    out['product_category'] = {'id': category.id, 'name': category.name}
    Uom = Model.get('product.uom')
    out['uom'] = {u.symbol: u.id for u in Uom.find([
        ('symbol', 'in', ['u', 'kg', 'h', 'm'])])}
    out['uom_unit'] = out['uom'].get('u')

    # --- payment terms ----------------------------------------------------
    log("payment terms")
    PaymentTerm = Model.get('account.invoice.payment_term')
    terms = {t.name: t for t in PaymentTerm.find([])}
    if 'Net 14 days' not in terms:
        term = PaymentTerm(name='Net 14 days')
        line = term.lines.new(type='remainder')
        line.relativedeltas.new(days=14)
        term.save()
        terms[term.name] = term
    out['payment_terms'] = {name: t.id for name, t in sorted(terms.items())}
    direct = terms.get('Upon Receipt') or terms.get('Direct')
    out['payment_term_ids'] = {
        'direct': direct.id,
        'net14': terms['Net 14 days'].id,
        'net30': terms['Net 30 days'].id,
        }

    # --- journals + payment method -----------------------------------------
    log("journals and payment method")
    Journal = Model.get('account.journal')
    out['journals'] = {j.code or j.name: {'id': j.id, 'name': j.name,
            'type': j.type} for j in Journal.find([])}
    cash_journal, = Journal.find([('type', '=', 'cash')], limit=1)
    PaymentMethod = Model.get('account.invoice.payment.method')
    payment_method = PaymentMethod(name='Cash')
    payment_method.journal = cash_journal
    payment_method.credit_account = accounts['cash']
    payment_method.debit_account = accounts['cash']
    payment_method.save()
    out['payment_method'] = {'id': payment_method.id, 'name': 'Cash',
        'journal': cash_journal.id, 'account': accounts['cash'].id}

    # --- price list ---------------------------------------------------------
    log("price list")
    PriceList = Model.get('product.price_list')
    price_list = PriceList(name='Sales', price='list_price')
    price_list.lines.new(formula='unit_price * 0.9')
    price_list.save()
    out['price_list'] = {'id': price_list.id, 'name': 'Sales',
        'formula': 'unit_price * 0.9', 'price': 'list_price'}

    # --- employee -------------------------------------------------------------
    log("employee")
    Employee = Model.get('company.employee')
    rep = Party(name='Sales Rep')
    rep.save()
    employee = Employee(party=rep, company=company)
    employee.save()
    User = Model.get('res.user')
    admin, = User.find([('login', '=', 'admin')])
    admin.employees.append(Employee(employee.id))
    admin.employee = Employee(employee.id)
    admin.password = args.password
    admin.save()
    out['employee'] = {'id': employee.id, 'party': rep.id,
        'name': 'Sales Rep'}
    out['admin_user'] = admin.id

    # --- dunning procedure --------------------------------------------------
    log("dunning procedure")
    Procedure = Model.get('account.dunning.procedure')
    procedure = Procedure(name='Standard')
    for seq, days in [(1, 7), (2, 21), (3, 42)]:
        level = procedure.levels.new()
        level.sequence = seq
        level.overdue = datetime.timedelta(days)
    procedure.save()
    AccountConfig = Model.get('account.configuration')
    account_config = AccountConfig(1)
    account_config.default_dunning_procedure = procedure
    account_config.save()
    out['dunning_procedure'] = {'id': procedure.id, 'name': 'Standard',
        'levels': [{'id': lv.id, 'overdue_days': lv.overdue.days}
            for lv in procedure.levels],
        'is_default': True}

    # --- complaint types --------------------------------------------------------
    log("complaint types")
    CType = Model.get('sale.complaint.type')
    IrModel = Model.get('ir.model')
    ctypes = {}
    for name, model in [('Sale', 'sale.sale'), ('Sale Line', 'sale.line'),
            ('Invoice', 'account.invoice'),
            ('Invoice Line', 'account.invoice.line')]:
        ctype = CType(name=name)
        ctype.origin, = IrModel.find([('name', '=', model)])
        ctype.save()
        ctypes[model] = {'id': ctype.id, 'name': name}
    out['complaint_types'] = ctypes

    # --- stock locations ----------------------------------------------------
    Location = Model.get('stock.location')
    locations = {}
    for loc in Location.find([('code', '!=', None)]):
        locations[loc.code] = {'id': loc.id, 'name': loc.name,
            'type': loc.type}
    out['locations'] = locations
    warehouse = Location.find([('type', '=', 'warehouse')], limit=1)
    out['warehouse'] = warehouse[0].id if warehouse else None
    storage = locations.get('STO')
    out['storage_location'] = storage['id'] if storage else None
    out['customer_location'] = (locations.get('CUS') or {}).get('id')

    # --- modules ------------------------------------------------------------------
    Module = Model.get('ir.module')
    out['modules'] = sorted(m.name for m in Module.find(
        [('state', '=', 'activated')]))

    with open(args.output, 'w') as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
    log(f"done, wrote {args.output}")


if __name__ == '__main__':
    main()
