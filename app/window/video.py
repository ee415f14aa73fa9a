"""Ground video linkage: the cameras that see the selected spot or the latest alarm, and their recordings on the clock.

When a feature is selected (a click in the 3D view, an alarm or an event
chosen in a list), or :meth:`VideoPanel.look_at` is called, the panel lists the
cameras whose view wedge holds the spot (nearest first,
:func:`simulation.sensors.video.cameras_seeing`) and highlights them in the 3D
view.  "View cones" draws every camera's wedge.  Choosing a camera with a
recorded ``video`` plays it in step with the one clock: the frame shown is
the clock time minus the video's ``video_start``; it plays while the clock
plays (at the clock's speed, up to what the player can do) and holds still
otherwise; outside the recording the panel says so.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, QUrl
from PyQt6.QtWidgets import QCheckBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from simulation.sensors.video import cameras_seeing, video_offset_s

HIGHLIGHT = "cameras seeing"
COLOUR = "#6a3d9a"
MAX_RATE = 16.0          # the fastest a video plays; the clock may run faster than any decoder
DRIFT_S = 0.75           # the video is moved to the clock when it drifts further than this


class VideoPanel(QWidget):
    """Cameras on the spot, and the chosen camera's recording on the clock."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.cones = QCheckBox("View cones")
        self.cones.setObjectName("view-cones")
        self.spot = QLabel("Select a feature or an alarm to see the cameras on it.")
        self.spot.setObjectName("video-spot")
        self.spot.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("cameras-seeing")
        self.status = QLabel("")
        self.status.setObjectName("video-status")
        self.status.setWordWrap(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        for w in (self.cones, self.spot, self.list):
            box.addWidget(w)
        self.player = None
        self.video_widget = None
        self.camera: str | None = None
        self.video_start = None
        self._players_available = self._make_player(box)
        box.addWidget(self.status)
        self.cones.toggled.connect(self._on_cones)
        self.list.currentItemChanged.connect(self._on_camera)
        self.sightings = []

    def _make_player(self, box) -> bool:
        try:
            from PyQt6.QtMultimedia import QMediaPlayer
            from PyQt6.QtMultimediaWidgets import QVideoWidget
        except ImportError as exc:   # Qt Multimedia missing a system library: say it, keep the rest
            self.status.setText(f"video playback unavailable: {exc}")
            return False
        self.player = QMediaPlayer(self)
        self.video_widget = QVideoWidget()
        self.video_widget.setMinimumHeight(160)
        self.player.setVideoOutput(self.video_widget)
        box.addWidget(self.video_widget, 1)
        return True

    # ------------------------------------------------------------------ the twin
    def twin_changed(self, twin) -> None:
        model = self.window.view_model
        self.list.clear()
        self.sightings = []
        self._stop()
        self.cones.setChecked(model.video.cones)
        model.selection.events.connect(self._on_selection)
        model.clock.events.time.connect(self._sync)
        model.clock.events.playing.connect(lambda _on: self._sync(model.clock.time))
        model.video.events.cones.connect(lambda on: self.cones.setChecked(on))

    def _on_cones(self, on: bool) -> None:
        if self.window.view_model is not None:
            self.window.view_model.video.cones = on
            self.window.request_render()

    # ------------------------------------------------------------------ which cameras
    def _on_selection(self, _info=None) -> None:
        sel = self.window.view_model.selection
        if sel.layer is None or not sel.feature_ids or sel.layer == "cameras":
            return
        frame = self.window.twin[sel.layer]
        row = frame[frame["id"].astype(str) == sel.feature_ids[0]]
        if not len(row) or row.geometry.iloc[0] is None:
            return
        p = row.geometry.iloc[0].representative_point()
        self.look_at(p.x, p.y, f"{sel.layer} {sel.feature_ids[0]}")

    def look_at(self, x: float, y: float, what: str = "") -> list:
        """List and highlight the cameras that see the point (x, y); returns the sightings."""
        cams = self.window.twin.layers.get("cameras")
        self.sightings = cameras_seeing(cams, x, y)
        self.list.blockSignals(True)
        self.list.clear()
        videos = self._videos()
        for s in self.sightings:
            has_video = s.camera in videos
            item = QListWidgetItem(f"{s.camera} — {s.distance_m:.0f} m, looking {s.bearing_deg:.0f}°"
                                   + ("  ▶ recording" if has_video else ""))
            item.setData(Qt.ItemDataRole.UserRole, s.camera)
            self.list.addItem(item)
        self.list.blockSignals(False)
        where = what or f"({x:.0f}, {y:.0f})"
        self.spot.setText(f"{len(self.sightings)} camera(s) see {where}" if self.sightings
                          else f"no camera sees {where}")
        self.window.view_model.highlight(HIGHLIGHT, "cameras" if "cameras" in self.window.view_model.layers else None,
                                         [s.camera for s in self.sightings], COLOUR)
        self.window.request_render()
        return self.sightings

    def _videos(self) -> dict[str, tuple[str, object]]:
        cams = self.window.twin.layers.get("cameras")
        if cams is None or "video" not in cams.columns:
            return {}
        out = {}
        for _, row in cams.iterrows():
            video = row.get("video")
            if isinstance(video, str) and video.strip():
                out[str(row["id"])] = (video.strip(), row.get("video_start"))
        return out

    # ------------------------------------------------------------------ the recording
    def _on_camera(self, item, _previous=None) -> None:
        self._stop()
        if item is None:
            return
        camera = item.data(Qt.ItemDataRole.UserRole)
        videos = self._videos()
        if camera not in videos:
            self.status.setText(f"camera {camera}: no recording")
            return
        if self.player is None:
            return
        path, start = videos[camera]
        path = Path(path)
        if not path.is_absolute() and self.window.path is not None:
            path = self.window.path.parent / path
        if not path.is_file():
            self.status.setText(f"camera {camera}: recording {path} not found")
            return
        self.camera, self.video_start = camera, start
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self._sync(self.window.view_model.clock.time)

    def _stop(self) -> None:
        self.camera, self.video_start = None, None
        if self.player is not None:
            self.player.stop()
        self.status.setText("")

    def offset_s(self, t: float) -> float | None:
        """Seconds into the chosen camera's recording that show clock time ``t`` (None: not recorded then)."""
        if self.camera is None:
            return None
        duration = self.player.duration() / 1000.0 if self.player is not None and self.player.duration() > 0 else None
        return video_offset_s(self.video_start, t, duration)

    def _sync(self, t: float) -> None:
        if self.camera is None or self.player is None:
            return
        clock = self.window.view_model.clock
        offset = self.offset_s(t)
        if offset is None:
            self.player.pause()
            self.status.setText(f"camera {self.camera}: no recording at this clock time")
            return
        if abs(self.player.position() / 1000.0 - offset) > DRIFT_S or not clock.playing:
            self.player.setPosition(int(offset * 1000))
        if clock.playing:
            self.player.setPlaybackRate(min(float(clock.speed), MAX_RATE))
            self.player.play()
        else:
            self.player.pause()
        self.status.setText(f"camera {self.camera}: {offset:.1f} s into the recording")
