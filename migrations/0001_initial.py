from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ThrottleHit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=300)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'throttle_hits', 'app': 'chatin', 'indexes': [Index(fields=['key', 'at'])], 'pk_attr': 'id', 'table_description': 'One counted event (a failed log-in, a sign-up) for a throttle key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('display_name', fields.CharField(max_length=80)),
                ('email', fields.CharField(description='as the person typed it', max_length=254)),
                ('email_key', fields.CharField(unique=True, description='lower-cased: one account per email', max_length=254)),
                ('password_hash', fields.CharField(max_length=60)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'chatin', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuthSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'auth_sessions', 'app': 'chatin', 'pk_attr': 'id', 'table_description': 'One logged-in browser. The cookie holds a random token; we keep only its hash.'},
            bases=['Model'],
        ),
    ]
