import pytest
from django.db import connection


@pytest.mark.django_db
def test_database_is_real_postgresql():
    assert connection.vendor == "postgresql"


def test_redis_answers(redis_client):
    assert redis_client.ping()
