# Regenerates the access rights of utility_billing:
#   python3 scripts/gen_billing_access.py > addons/utility_billing/utility_billing/access.xml
import sys
# model: (xml id stem, {group_ref: 'rwcd'}, rule domain field or None)
A = 'utility_metering.group_utility_admin'
B = 'group_billing'
CS = 'group_customer_service'
ACC = 'account.group_account'
models = [
    ('utility.billing.configuration', 'configuration', {A: 'rwcd', B: 'r'}, None),
    ('utility.billing.cycle', 'cycle', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'company'),
    ('utility.rate.plan', 'rate_plan', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'company'),
    ('utility.rate.version', 'rate_version', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'plan.company'),
    ('utility.rate.component', 'rate_component', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'version.plan.company'),
    ('utility.rate.block', 'rate_block', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'component.version.plan.company'),
    ('utility.rate.tou.period', 'tou_period', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'plan.company'),
    ('utility.rate.holiday', 'holiday', {A: 'rwcd', B: 'rwcd', CS: 'r', ACC: 'r'}, 'plan.company'),
    ('utility.service.agreement', 'agreement', {A: 'rwcd', B: 'rwcd', CS: 'rwc', ACC: 'r'}, 'company'),
    ('utility.bill', 'bill', {A: 'rwc', B: 'rwc', CS: 'r', ACC: 'r'}, 'company'),
    ('utility.bill-utility.meter.reading', 'bill_reading', {A: 'rwc', B: 'rwc', CS: 'r', ACC: 'r'}, 'bill.company'),
    ('utility.bill.run', 'bill_run', {A: 'rwcd', B: 'rwcd', ACC: 'r'}, 'company'),
    ('utility.bill.run.line', 'bill_run_line', {A: 'rwcd', B: 'rwcd', ACC: 'r'}, 'run.company'),
]
# Metering records billing, customer service and accountants read: the
# models' default (no access) and provider rules live in utility_metering.
readers = {B: 'r', CS: 'r', ACC: 'r'}
metering = [
    ('utility.service.type', 'service_type'),
    ('utility.service.point', 'service_point'),
    ('utility.meter', 'meter'),
    ('utility.meter.installation', 'meter_installation'),
    ('utility.meter.reading', 'reading'),
    ('utility.consumption.alert', 'alert'),
    ('utility.heat.factor', 'heat_factor'),
    ('utility.supply.zone', 'supply_zone'),
    ('utility.supply.zone-utility.meter', 'supply_zone_meter'),
    ('utility.supply.zone-utility.service.point', 'supply_zone_point'),
]
out = []
for model, stem, grants, rule in models:
    out.append(f'''        <record model="ir.model.access" id="access_{stem}">
            <field name="model">{model}</field>
            <field name="perm_read" eval="False"/>
            <field name="perm_write" eval="False"/>
            <field name="perm_create" eval="False"/>
            <field name="perm_delete" eval="False"/>
        </record>''')
    for group, perms in grants.items():
        gid = group.split('.')[-1].replace('group_', '')
        flags = ''.join(f'\n            <field name="perm_{n}" eval="{c in perms}"/>'
            for n, c in [('read', 'r'), ('write', 'w'), ('create', 'c'), ('delete', 'd')])
        out.append(f'''        <record model="ir.model.access" id="access_{stem}_{gid}">
            <field name="model">{model}</field>
            <field name="group" ref="{group}"/>{flags}
        </record>''')
    if rule:
        out.append(f'''        <record model="ir.rule.group" id="rule_group_{stem}_companies">
            <field name="name">User in companies</field>
            <field name="model">{model}</field>
            <field name="global_p" eval="True"/>
        </record>
        <record model="ir.rule" id="rule_{stem}_companies">
            <field name="domain"
                eval="[('{rule}', 'in', Eval('companies', []))]"
                pyson="1"/>
            <field name="rule_group" ref="rule_group_{stem}_companies"/>
        </record>''')
for model, stem in metering:
    for group, perms in readers.items():
        gid = group.split('.')[-1].replace('group_', '')
        flags = ''.join(f'\n            <field name="perm_{n}" eval="{c in perms}"/>'
            for n, c in [('read', 'r'), ('write', 'w'), ('create', 'c'), ('delete', 'd')])
        out.append(f'''        <record model="ir.model.access" id="access_{stem}_{gid}">
            <field name="model">{model}</field>
            <field name="group" ref="{group}"/>{flags}
        </record>''')
print('<?xml version="1.0"?>\n<!-- Who may read, write, create and delete what; see the README matrix. -->\n<tryton>\n    <data>')
print('\n'.join(out))
print('    </data>\n</tryton>')
