"""irc.templating.jinja: the sandboxed, strict Jinja2 engine, and the escapes it must refuse."""

from __future__ import annotations

import pytest

from irc.templating import TemplateError, render_jinja

VARS = {"ImageTag": "v1.2.3", "ServiceName": "frontend", "Variables": {"env": "prod"}, "env": "prod"}


def test_renders_without_escaping_and_keeps_the_trailing_newline() -> None:
    template = "name: {{ ServiceName }}-{{ ImageTag | replace('.', '-') }}\nhtml: {{ '<a&b>' }}\n"
    assert render_jinja(template, VARS) == "name: frontend-v1-2-3\nhtml: <a&b>\n"
    assert render_jinja("{{ Variables.env }} {{ env }}", VARS) == "prod prod"


def test_undefined_names_are_errors_naming_them_and_their_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render_jinja("a: 1\nb: {{ GitRepoURL }}\n", VARS)
    error = caught.value
    assert (error.reason, error.variable, error.line, error.terminal) == (
        "UnknownVariable",
        "GitRepoURL",
        2,
        True,
    )
    assert error.line_text == "b: {{ GitRepoURL }}"
    with pytest.raises(TemplateError) as caught:
        render_jinja("{{ Variables.nope }}", VARS)
    assert (caught.value.reason, caught.value.variable) == ("UnknownVariable", "nope")


def test_defaults_and_tests_still_work_on_undefined_names() -> None:
    assert render_jinja("{{ Nope | default('d') }}{% if Nope is defined %}x{% endif %}", VARS) == "d"


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render_jinja("a\nb\n{% if %}\n", VARS)
    assert (caught.value.reason, caught.value.line) == ("TemplateSyntax", 3)


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ImageTag.__len__() }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ Variables.update({'env': 'x'}) }}",  # the immutable sandbox: no changing the variables
    "{{ Variables.pop('env') }}",
    "{{ 'a' * 100000000 }}",
    "{{ 2 ** 100000 }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_refuses_python_internals(template: str) -> None:
    variables = {**VARS, "Variables": dict(VARS["Variables"])}  # type: ignore[arg-type]
    with pytest.raises(TemplateError) as caught:
        render_jinja(template, variables)
    assert caught.value.reason == "SandboxViolation"
    assert variables["Variables"] == {"env": "prod"}


def test_no_os_or_config_names() -> None:
    for name in ("os", "config", "request", "__builtins__", "import"):
        with pytest.raises(TemplateError) as caught:
            render_jinja(f"{{{{ {name} }}}}", VARS)
        assert caught.value.reason in ("UnknownVariable", "TemplateSyntax")


def test_limits() -> None:
    with pytest.raises(TemplateError) as caught:
        render_jinja("{% for x in range(10**9) %}{% endfor %}", VARS)
    assert caught.value.reason == "TemplateExecution"  # the sandbox's range limit
    with pytest.raises(TemplateError) as caught:
        render_jinja("{% for x in range(100000) %}{{ 'x' * 100 }}{% endfor %}", VARS, max_output=1 << 20)
    assert caught.value.reason == "TemplateTooLarge"


def test_runtime_errors() -> None:
    with pytest.raises(TemplateError) as caught:
        render_jinja("ok\n{{ 1 / 0 }}", VARS)
    assert (caught.value.reason, caught.value.line) == ("TemplateExecution", 2)
