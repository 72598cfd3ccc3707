from tortoise import migrations
from tortoise.migrations import operations as ops
from chatin.models.conversations import MemberState
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('chatin', '0009_reactions_replies')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Conversation',
            name='name',
            field=fields.CharField(null=True, description="a group's name, if given", max_length=80),
        ),
        ops.AlterField(
            model_name='Membership',
            name='state',
            field=fields.CharEnumField(default=MemberState.ACTIVE, description='REQUEST: request\nACTIVE: active\nBLOCKED: blocked\nLEFT: left\nREMOVED: removed', enum_type=MemberState, max_length=8),
        ),
        ops.AddField(
            model_name='Membership',
            name='visible_from',
            field=fields.BigIntField(default=0, description='the member sees messages with a greater id (models.visibility)', db_default=0),
        ),
        ops.AddField(
            model_name='Message',
            name='system',
            field=fields.BooleanField(default=False, description="a group's system line (Ana added Bo)", db_default=False),
        ),
    ]
