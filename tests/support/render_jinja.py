#!/usr/bin/env python3
"""Test oracle for the server's C chat templates: renders a model's Jinja
chat template as Hugging Face transformers does (sandboxed, trim_blocks,
lstrip_blocks, loopcontrols, raise_exception, strftime_now) with
add_generation_prompt.

    render_jinja.py TEMPLATE NOW < conversations.json

The input is an array of message arrays; NOW is the Unix time strftime_now
formats (in UTC). Prints a JSON array of the prompts, null where the template
raised. Exits 77 (skip) without python3-jinja2."""
import json
import sys
import time

try:
    import jinja2
    import jinja2.sandbox
except ImportError:
    print("SKIP: python3-jinja2 is not installed", file=sys.stderr)
    sys.exit(77)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def main():
    path, now = sys.argv[1], int(sys.argv[2])
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt, time.gmtime(now))
    with open(path, encoding="utf-8") as f:
        template = env.from_string(f.read())
    prompts = []
    for messages in json.load(sys.stdin):
        try:
            prompts.append(template.render(messages=messages, add_generation_prompt=True))
        except jinja2.exceptions.TemplateError:
            prompts.append(None)
    json.dump(prompts, sys.stdout)


main()
