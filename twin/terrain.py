"""The terrain: a DEM raster in the twin's CRS, in metres, with sampling at points.

Nodata cells are NaN in memory.  Reading accepts any GDAL raster; a raster whose
cells are all nodata, or that has no CRS and none is given, is refused with the
file named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from twin.errors import SourceError


@dataclass
class Terrain:
    """Heights (rows × cols, float64 metres, NaN where unknown) on a north-up grid."""

    heights: np.ndarray
    transform: Affine
    crs: CRS

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        rows, cols = self.heights.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (cols, rows)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    @property
    def cell_size(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    def sample(self, x, y) -> np.ndarray:
        """Bilinear height at points (NaN outside the grid or next to nodata)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        inv = ~self.transform
        col, row = inv @ (x, y)
        col = np.asarray(col) - 0.5
        row = np.asarray(row) - 0.5
        rows, cols = self.heights.shape
        c0 = np.floor(col).astype(int)
        r0 = np.floor(row).astype(int)
        fc = col - c0
        fr = row - r0
        # The neighbours come from the unclipped index: in the outer half of the first
        # column (c0 = -1) both are column 0, so the edge height holds to the border
        # instead of being blended with column 1.
        c0, c1 = np.clip(c0, 0, cols - 1), np.clip(c0 + 1, 0, cols - 1)
        r0, r1 = np.clip(r0, 0, rows - 1), np.clip(r0 + 1, 0, rows - 1)
        h = self.heights
        z = (h[r0, c0] * (1 - fc) * (1 - fr) + h[r0, c1] * fc * (1 - fr)
             + h[r1, c0] * (1 - fc) * fr + h[r1, c1] * fc * fr)
        outside = (col < -0.5) | (row < -0.5) | (col > cols - 0.5) | (row > rows - 0.5)
        return np.where(outside, np.nan, z)

    def reprojected(self, crs: CRS, scale_z: float = 1.0) -> "Terrain":
        """This terrain warped to ``crs``; heights multiplied by ``scale_z`` (e.g. feet → m)."""
        crs = CRS.from_user_input(crs)
        if crs == self.crs and scale_z == 1.0:
            return self
        src = self.heights * scale_z
        if crs == self.crs:
            return Terrain(src, self.transform, self.crs)
        rows, cols = src.shape
        left, bottom, right, top = self.bounds
        transform, width, height = calculate_default_transform(
            self.crs.to_wkt(), crs.to_wkt(), cols, rows, left, bottom, right, top)
        dst = np.full((height, width), np.nan)
        reproject(src, dst, src_transform=self.transform, src_crs=self.crs.to_wkt(),
                  dst_transform=transform, dst_crs=crs.to_wkt(), src_nodata=np.nan,
                  dst_nodata=np.nan, resampling=Resampling.bilinear)
        return Terrain(dst, transform, crs)

    def write(self, path: Path | str, driver: str = "GTiff", **options) -> None:
        rows, cols = self.heights.shape
        profile = dict(driver=driver, width=cols, height=rows, count=1, dtype="float32",
                       crs=self.crs.to_wkt(), transform=self.transform, nodata=float("nan"))
        profile.update(options)
        data = self.heights.astype("float32")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)

    @classmethod
    def read(cls, path: Path | str, crs=None, table: str | None = None) -> "Terrain":
        """Read band 1 of any GDAL raster.  ``crs`` overrides (or supplies) the file's CRS."""
        path = str(path)
        options = {"table": table} if table else {}
        try:
            with rasterio.open(path, **options) as src:
                data = src.read(1, masked=True).astype("float64")
                file_crs = src.crs
                transform = src.transform
        except rasterio.errors.RasterioIOError as exc:
            raise SourceError(f"{path}: cannot read raster ({exc})") from None
        heights = data.filled(np.nan)
        heights[~np.isfinite(heights)] = np.nan
        if np.isnan(heights).all():
            raise SourceError(f"{path}: raster has no data (every cell is nodata)")
        if crs is not None:
            use_crs = CRS.from_user_input(crs)
        elif file_crs is not None:
            use_crs = CRS.from_wkt(file_crs.to_wkt())
        else:
            raise SourceError(f"{path}: raster has no CRS; pass one (--crs)")
        return cls(heights, transform, use_crs)

    @classmethod
    def from_points(cls, x, y, z, crs, cell: float, margin: float = 0.0) -> "Terrain":
        """A DEM interpolated (linearly, nearest outside the hull) from scattered heights."""
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
        left, right = x.min() - margin, x.max() + margin
        bottom, top = y.min() - margin, y.max() + margin
        cols = max(2, int(np.ceil((right - left) / cell)))
        rows = max(2, int(np.ceil((top - bottom) / cell)))
        transform = Affine(cell, 0, left, 0, -cell, top)
        cx = left + (np.arange(cols) + 0.5) * cell
        cy = top - (np.arange(rows) + 0.5) * cell
        gx, gy = np.meshgrid(cx, cy)
        pts = np.column_stack([x, y])
        lin = LinearNDInterpolator(pts, z)(gx, gy)
        near = NearestNDInterpolator(pts, z)(gx, gy)
        heights = np.where(np.isnan(lin), near, lin)
        return cls(heights, transform, CRS.from_user_input(crs))
