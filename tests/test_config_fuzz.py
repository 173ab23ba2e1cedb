"""Property tests: any YAML document either loads as a config or fails with messages naming fields."""
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.config import ConfigError, to_dict
from workbench.tasks import config_from_dict, default_config

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)
DEFAULTS = to_dict(default_config())
SECTIONS = [name for name in DEFAULTS if name != "tasks"]


def assert_loads_or_names_fields(data):
    try:
        config_from_dict(data)
    except ConfigError as error:
        assert error.problems
        for path, message in error.problems:
            assert isinstance(path, str) and path.strip(), path
            assert message and "Traceback" not in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section=st.sampled_from(SECTIONS), data=st.data())
def test_any_value_in_any_known_field(section, data):
    field = data.draw(st.sampled_from(sorted(DEFAULTS[section])))
    value = data.draw(values)
    document = {"tasks": {"simclr": {}}, section: {field: value}}
    assert_loads_or_names_fields(document)


@settings(max_examples=150, deadline=None)
@given(document=values)
def test_any_document_shape(document):
    assert_loads_or_names_fields(document)


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=60))
def test_any_yaml_text(text):
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    assert_loads_or_names_fields(document)
