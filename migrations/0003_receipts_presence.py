from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('chatin', '0002_conversations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Presence',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('worker', fields.CharField(max_length=64)),
                ('user', fields.ForeignKeyField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='presence', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'presence', 'app': 'chatin', 'unique_together': (('worker', 'user'),), 'indexes': [Index(fields=['user_id', 'expires_at'])], 'pk_attr': 'id', 'table_description': "A worker's claim that a user has a tab open there, renewed while it lasts."},
            bases=['Model'],
        ),
        # Existing memberships get 0 before the column becomes NOT NULL.
        ops.AddField(
            model_name='Membership',
            name='delivered_message_id',
            field=fields.BigIntField(default=0, null=True, description="highest message id that reached one of this member's tabs"),
        ),
        ops.RunSQL(
            "UPDATE memberships SET delivered_message_id = last_read_message_id",
            reverse_sql="SELECT 1",
        ),
        ops.AlterField(
            model_name='Membership',
            name='delivered_message_id',
            field=fields.BigIntField(default=0, description="highest message id that reached one of this member's tabs"),
        ),
        ops.AddField(
            model_name='User',
            name='last_seen_at',
            field=fields.DatetimeField(null=True, description='when their last tab closed', auto_now=False, auto_now_add=False),
        ),
    ]
