"""The guide book/guides/measure-your-own-network.md through papermill at a tiny scale."""
import pytest

from notebooks import execute, parameter_names

NOTEBOOK = "book/guides/measure-your-own-network.md"
PARAMETERS = {"architecture", "checkpoint", "image_size", "n_train", "epochs", "n_points", "q", "seed"}
TINY = dict(n_train=160, epochs=1, n_points=40, q=2)

pytestmark = pytest.mark.slow


def _text(nb):
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_parameters_are_documented():
    assert parameter_names(NOTEBOOK) == PARAMETERS


def test_page_runs_at_tiny_scale_and_from_a_checkpoint(notebook_env):
    import torch

    import latentgeom as lg

    nb = execute(NOTEBOOK, notebook_env, **TINY)
    text = _text(nb)
    assert "resnet18 (1 epoch(s) on 160 images): test accuracy" in text
    assert any("image/svg+xml" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    # the same page on a saved state_dict: no training, the checkpoint's weights are measured
    path = notebook_env / "weights.pt"
    torch.save(lg.torchvision_model("resnet18").state_dict(), path)
    nb = execute(NOTEBOOK, notebook_env, checkpoint=str(path), **TINY)
    assert f"resnet18 (checkpoint {path}): test accuracy" in _text(nb)


def test_bad_architecture_fails_clearly(notebook_env):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="architecture must be one of"):
        execute(NOTEBOOK, notebook_env, architecture="resnet17", **TINY)
