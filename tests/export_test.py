"""Export: JSON round trips; loading never runs code from the file."""

import json

import pyglove as pg
import pytest

import symbolic_automl as sa


class Tiny(pg.Object):
    width: int = 4


def test_round_trip(tmp_path):
    path = sa.export.save(Tiny(width=8), str(tmp_path / "m.json"))
    assert pg.eq(sa.export.load(path), Tiny(width=8))


@pytest.mark.parametrize("payload, match", [
    ({"_type": "function", "name": "os.system"}, "serialized function"),
    ({"_type": "type", "name": "subprocess.Popen"}, "serialized type"),
    ({"_type": "function", "name": "x.<lambda>", "code": "4wEAAA=="}, "marshalled Python code"),
    ({"_type": "some_module.NotRegistered", "x": 1}, "not registered"),
    ({"_type": pg.to_json(Tiny())["_type"], "width": {"_type": "method", "name": "os.remove"}},
     "method"),
])
def test_loading_code_is_refused(tmp_path, payload, match):
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=match):
        sa.export.load(str(path))
