import pytest
import torch

import recsim_meta

torch.set_num_threads(1)


@pytest.fixture(params=recsim_meta.ENV_IDS)
def env_id(request) -> str:
    return request.param
