from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('chatin', '0003_receipts_presence')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['author_id', 'created_at']),
        ),
    ]
