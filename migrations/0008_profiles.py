from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('chatin', '0007_attachments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConnectLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='connect_link', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=32)),
            ],
            options={'table': 'connect_links', 'app': 'chatin', 'pk_attr': 'id', 'table_description': "A person's connect link, by a random token."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProfilePicture',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('chatin.User', source_field='user_id', db_constraint=True, to_field='id', related_name='picture', on_delete=OnDelete.CASCADE)),
                ('version', fields.CharField(description='random per upload: part of its URL', max_length=16)),
                ('large', fields.BinaryField(description='256 px square WebP')),
                ('small', fields.BinaryField(description='64 px square WebP')),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'profile_pictures', 'app': 'chatin', 'pk_attr': 'id', 'table_description': "A person's picture as two square WebP images, 256 and 64 px."},
            bases=['Model'],
        ),
    ]
