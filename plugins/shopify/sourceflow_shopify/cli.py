"""``sourceflow shopify``: the commands this plugin adds (``sourceflow.commands`` entry point)."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from sourceflow_shopify.settings import ADMIN_URL, CLIENT_ID, CLIENT_SECRET, SHOP, TOKENS


@click.group()
def shopify() -> None:
    """Shopify Streaming: sign in to a shop."""


@shopify.command()
@click.option(
    SHOP.option, required=True, help="The shop's myshopify.com host, e.g. acme.myshopify.com."
)
@click.option(
    CLIENT_ID.option,
    envvar=CLIENT_ID.env,
    required=True,
    help=f"The app's client ID [env {CLIENT_ID.env}].",
)
@click.option(
    CLIENT_SECRET.option,
    envvar=CLIENT_SECRET.env,
    prompt=True,
    hide_input=True,
    help=f"The app's client secret [env {CLIENT_SECRET.env}; asked for when missing].",
)
@click.option(
    "--scopes",
    default="read_orders,read_customers,read_products",
    show_default=True,
    help="Access scopes to ask for, comma-separated.",
)
@click.option(
    "--port",
    type=int,
    default=8765,
    show_default=True,
    help="Loopback port of the redirect listener (0: any free port). Allow "
    "http://127.0.0.1:PORT/callback as a redirection URL in the app's settings.",
)
@click.option(
    ADMIN_URL.option,
    envvar=ADMIN_URL.env,
    default=None,
    metavar="URL",
    help=f"Base URL instead of https://SHOP [env {ADMIN_URL.env}]; connect takes it as "
    "--param adminUrl.",
)
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait.")
@click.option(
    TOKENS.option,
    "tokens_path",
    envvar=TOKENS.env,
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Token file [env {TOKENS.env}; default shopify-tokens.json in your config "
    "directory, e.g. ~/.config/sourceflow].",
)
@click.option(
    "--print-token", is_flag=True, help="Also print the access token on stdout (for scripts)."
)
def login(
    shop: str,
    client_id: str,
    client_secret: str,
    scopes: str,
    port: int,
    admin_url: str | None,
    no_browser: bool,
    timeout: float,
    tokens_path: Path | None,
    print_token: bool,
) -> None:
    """Authorize the app on SHOP (OAuth) and store its access token.

    Prints the authorize URL (and opens it unless --no-browser), waits for Shopify's
    redirect on a loopback port, checks its hmac, state, shop and timestamp, exchanges the
    code for an access token and stores it in the token file (owner-only), where
    `sourceflow connect shopify` finds it.
    """
    from sourceflow import redact
    from sourceflow_shopify.login import login as run_login
    from sourceflow_shopify.tokens import TokenStore

    redact.register(client_secret)

    def show(url: str) -> None:
        click.echo(f"Open this URL to authorize the app on {shop}:\n  {url}", err=True)
        if not no_browser:
            webbrowser.open(url)

    token = run_login(
        shop,
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes,
        admin_url=admin_url,
        port=port,
        timeout=timeout,
        show=show,
    )
    store = TokenStore(tokens_path)
    store.put(token.shop, token.access_token, token.scope)
    click.echo(
        f"authorized on {token.shop} (scopes: {token.scope}); token stored in {store.path}",
        err=True,
    )
    if print_token:
        click.echo(token.access_token)
