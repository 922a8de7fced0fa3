"""One torch.distributed default group on the kolo backend per pytest process (each rank)."""

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
pytest.importorskip("kolo.torch.distributed")


@pytest.fixture(scope="session", autouse=True)
def kolo_process_group(kolo_session):
    # kolorun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun would.
    dist.init_process_group("kolo")
    yield
    dist.destroy_process_group()
