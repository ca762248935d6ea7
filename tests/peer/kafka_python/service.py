"""test/service.py for kafka-python's integration tests, which the PyPI sdist leaves out.

The fixtures import ExternalService (a broker someone else runs, named by KAFKA_URI) and
SpawnedService (a broker the fixture starts from a Kafka distribution). Only the first is
used here: the broker under test is started by the harness, so there is nothing to start,
stop or wait for. Tests that need a broker of their own (SASL, TLS) are not run.
"""


class ExternalService:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def start(self):
        pass

    def stop(self):
        pass

    def wait_for(self, pattern, timeout=30):
        # The harness starts the broker and waits for it before the tests run.
        return True

    def dump_logs(self):
        pass


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            "this harness does not start brokers: run against KAFKA_URI (tests needing "
            "a broker of their own are excluded)")
