from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('chatin', '0006_message_changes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Attachment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.OneToOneField('chatin.Message', source_field='message_id', null=True, description='set in the transaction that stores the file', db_constraint=True, to_field='id', related_name='attachment', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, description="random: the file's URL", max_length=32)),
                ('name', fields.CharField(max_length=255)),
                ('mime', fields.CharField(description='detected from the bytes', max_length=100)),
                ('size', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('width', fields.IntField(null=True, description="the preview's, for <img> before it loads")),
                ('height', fields.IntField(null=True)),
                ('preview_size', fields.IntField(default=0, description='0: no preview (not a safe image)')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'attachments', 'app': 'chatin', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AttachmentPart',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('attachment', fields.ForeignKeyField('chatin.Attachment', source_field='attachment_id', db_constraint=True, to_field='id', related_name='parts', on_delete=OnDelete.CASCADE)),
                ('preview', fields.BooleanField()),
                ('n', fields.IntField()),
                ('data', fields.BinaryField()),
            ],
            options={'table': 'attachment_parts', 'app': 'chatin', 'unique_together': (('attachment', 'preview', 'n'),), 'pk_attr': 'id', 'table_description': 'A fixed-size slice (storage.PART_BYTES) of a file or of its preview.'},
            bases=['Model'],
        ),
        # Parts are already-compressed or random bytes: stored as they are, PostgreSQL skips a
        # pointless compression on write and reads only the slice a Range asks for.
        ops.RunSQL(
            "ALTER TABLE attachment_parts ALTER COLUMN data SET STORAGE EXTERNAL",
            reverse_sql="ALTER TABLE attachment_parts ALTER COLUMN data SET STORAGE EXTENDED",
        ),
    ]
