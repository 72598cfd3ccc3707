from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('chatin', '0005_email_keys')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Conversation',
            name='last_seq',
            field=fields.BigIntField(default=0, description="the newest change's place in this conversation's sequence", db_default=0),
        ),
        ops.AddField(
            model_name='Message',
            name='deleted_at',
            field=fields.DatetimeField(null=True, description='deleted for everyone: body emptied', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='edited_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='seq',
            field=fields.BigIntField(default=0, description="its latest change's place in the conversation's sequence", db_default=0),
        ),
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['conversation_id', 'seq']),
        ),
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['author_id', 'edited_at']),
        ),
    ]
