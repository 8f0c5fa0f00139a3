"""Add-on preferences: backend URL, token, timeouts, the local backend command."""

from __future__ import annotations

import bpy

from .client import DEFAULT_URL, Client, is_local, validate_url
from .portable import config


def _check_url(self, _context) -> None:
    try:
        validate_url(self.backend_url)
        self.url_error = ""
    except ValueError as e:
        self.url_error = str(e)


class HumanCrafterPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    backend_url: bpy.props.StringProperty(
        name="Backend URL",
        description="http(s)://host:port of the HumanCrafter backend",
        default=DEFAULT_URL,
        update=_check_url,
    )
    url_error: bpy.props.StringProperty(default="")
    token: bpy.props.StringProperty(
        name="Token",
        description="Access token of a remote backend (a local backend's token is read "
        "from its token file automatically when this is empty)",
        subtype="PASSWORD",
        default="",
    )
    timeout_s: bpy.props.FloatProperty(
        name="Request timeout", description="Seconds to wait for a small request",
        default=5.0, min=0.5, max=120.0, unit="TIME_ABSOLUTE",
    )  # fmt: skip
    transfer_timeout_s: bpy.props.FloatProperty(
        name="Transfer timeout", description="Seconds to wait for an upload or a result",
        default=120.0, min=5.0, max=3600.0, unit="TIME_ABSOLUTE",
    )  # fmt: skip
    start_command: bpy.props.StringProperty(
        name="Local backend command",
        description="Command that starts a backend on this computer",
        default="humancrafter serve",
    )
    start_wait_s: bpy.props.FloatProperty(
        name="Start-up wait", description="Seconds to wait for a started backend to answer",
        default=60.0, min=1.0, max=600.0, unit="TIME_ABSOLUTE",
    )  # fmt: skip

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_url")
        if self.url_error:
            col.label(text=self.url_error, icon="ERROR")
        elif not is_local(self.backend_url) and not bpy.app.online_access:
            col.label(
                text="Online access is off: Blender blocks non-local hosts "
                "(Preferences › System › Network).",
                icon="ERROR",
            )
        col.prop(self, "token")
        if not self.token:
            found = config.read_token()
            col.label(
                text=f"Using the local token from {config.token_path()}"
                if found
                else f"No local token yet at {config.token_path()}",
                icon="INFO",
            )
        row = col.row()
        row.prop(self, "timeout_s")
        row.prop(self, "transfer_timeout_s")
        col.separator()
        col.prop(self, "start_command")
        col.prop(self, "start_wait_s")
        row = col.row()
        row.operator("humancrafter.start_backend", icon="PLAY")
        row.operator("humancrafter.check_connection", icon="URL")


def preferences(context: bpy.types.Context | None = None) -> HumanCrafterPreferences:
    ctx = context or bpy.context
    return ctx.preferences.addons[__package__].preferences


def make_client(context: bpy.types.Context | None = None) -> Client:
    """A client from the preferences (raises ValueError for a bad URL). The token is the
    pasted one, else the local backend's token file when the URL is local."""
    prefs = preferences(context)
    url = validate_url(prefs.backend_url)
    token = prefs.token.strip() or (config.read_token() if is_local(url) else None)
    return Client(
        base_url=url,
        token=token,
        timeout_s=prefs.timeout_s,
        transfer_timeout_s=prefs.transfer_timeout_s,
        online_access=bool(bpy.app.online_access),
    )
