import pytest
import torch

import recsim_meta

torch.set_num_threads(1)


@pytest.fixture(params=recsim_meta.ENV_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture(autouse=True, scope="session")
def sb3_log_folder(tmp_path_factory):
    """SB3 models made in tests without a logger put their log folder here, not in the system temp directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3_logs")))
        yield
