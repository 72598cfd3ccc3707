from tortoise import migrations
from tortoise.migrations import operations as ops
from chatin.models import ConversationKind, MemberRole, MemberState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('chatin', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(default=ConversationKind.DIRECT, description='DIRECT: direct\nGROUP: group', enum_type=ConversationKind, max_length=8)),
                ('direct_key', fields.CharField(null=True, unique=True, description="'<low id>:<high id>': one per pair", max_length=40)),
                ('last_message_id', fields.BigIntField(null=True)),
                ('last_activity_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'conversations', 'app': 'chatin', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Membership',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation', fields.ForeignKeyField('chatin.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(default=MemberRole.MEMBER, description='OWNER: owner\nMEMBER: member', enum_type=MemberRole, max_length=8)),
                ('state', fields.CharEnumField(default=MemberState.ACTIVE, description='REQUEST: request\nACTIVE: active\nBLOCKED: blocked', enum_type=MemberState, max_length=8)),
                ('last_read_message_id', fields.BigIntField(default=0)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'memberships', 'app': 'chatin', 'unique_together': (('conversation', 'user'),), 'indexes': [Index(fields=['user_id', 'state'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation', fields.ForeignKeyField('chatin.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('chatin.User', source_field='author_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('body', fields.TextField(unique=False)),
                ('client_id', fields.UUIDField(description="the sender's id for this write: retries store once")),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'messages', 'app': 'chatin', 'unique_together': (('author', 'client_id'),), 'indexes': [Index(fields=['conversation_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
