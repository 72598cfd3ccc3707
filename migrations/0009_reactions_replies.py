from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('chatin', '0008_profiles')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Reaction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('chatin.Message', source_field='message_id', db_constraint=True, to_field='id', related_name='reactions', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='reactions', on_delete=OnDelete.CASCADE)),
                ('emoji', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reactions', 'app': 'chatin', 'unique_together': (('message', 'user'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Message',
            name='changed',
            field=fields.BooleanField(default=False, description='changed after posting (edited, deleted or reacted to): catch-up replays it', db_default=False),
        ),
        ops.AddField(
            model_name='Message',
            name='reply_to',
            field=fields.ForeignKeyField('chatin.Message', source_field='reply_to_id', null=True, description='the message of the same conversation this one answers', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['reply_to_id']),
        ),
        # Messages edited or deleted before this migration are changes the catch-up replays.
        ops.RunSQL(
            "UPDATE messages SET changed = true WHERE edited_at IS NOT NULL OR deleted_at IS NOT NULL",
            reverse_sql="SELECT 1",
        ),
    ]
