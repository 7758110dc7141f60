"""`manage.py create_api_key NAME`: mint an API key; the key alone is the last line."""

from django.core.management.base import BaseCommand
from rest_framework_api_key.models import APIKey


class Command(BaseCommand):
    help = "Create an API key for writes. Only its hash is stored: copy it now."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who or what the key is for")

    def handle(self, *args, name, **options):
        api_key, key = APIKey.objects.create_key(name=name)
        self.stdout.write(
            f"Created API key {api_key.prefix}… for {name!r}. "
            "Send it as 'Authorization: Api-Key <key>'. It is shown once:"
        )
        self.stdout.write(key)
