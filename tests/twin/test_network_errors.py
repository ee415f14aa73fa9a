"""Bad input to the network importers: one SourceError naming the file (and line), one CLI line, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import wntr
from affine import Affine
from shapely.geometry import Point

from app.cli import main
from twin.errors import SourceError
from twin.importers.epanet import import_inp
from twin.importers.micropolis import import_micropolis

BAD_NETWORKS = Path(wntr.__path__[0]) / "tests" / "networks_for_testing"


@pytest.mark.parametrize("name, says", [
    ("bad_syntax.inp", "Error 299: invalid section keyword [FOO]: section contents ignored. (line 330: [FOO])"),
    ("bad_values.inp", "Error 203: undefined node node1 in [PIPES] section "
                       "(line 56: pipe2 node1 junction2 1000 457.2 100 0 Open)"),
])
def test_malformed_inp_gets_epanets_own_error_lines(name, says):
    path = BAD_NETWORKS / name
    assert path.exists(), f"wntr no longer ships {path}"
    with pytest.raises(SourceError) as caught:
        import_inp(path, crs="EPSG:3547")
    message = str(caught.value)
    assert message == f"{path}: EPANET 2.3 cannot open the network: {says}"
    assert "lifeline-epanet-" not in message  # never the temporary file EPANET actually read


def test_a_file_epanet_accepts_imports_though_wntr_refuses_it(tmp_path):
    """bad_times.inp has 'DURATION 0:00:00:00', which WNTR refuses and EPANET 2.3 reads."""
    path = BAD_NETWORKS / "bad_times.inp"
    with pytest.raises(Exception):
        wntr.network.read_inpfile(str(path))
    twin, _ = import_inp(path, crs="local:m")
    assert twin.network.text == path.read_text()
    assert len(twin["water_pipes"]) == len(twin.network.model.pipe_name_list) > 0


def test_the_reported_line_is_the_bad_one():
    text = (BAD_NETWORKS / "bad_values.inp").read_text().splitlines()
    assert "node1" in text[56 - 1]
    text = (BAD_NETWORKS / "bad_times.inp").read_text().splitlines()
    assert "0:00:00:00" in text[324 - 1]


def test_missing_network_file(tmp_path):
    missing = tmp_path / "nowhere.inp"
    with pytest.raises(SourceError, match=f"^{missing}: no such network file$"):
        import_inp(missing, crs="EPSG:3547")


def test_unknown_crs(wntr_network_path):
    with pytest.raises(SourceError, match="--crs 'EPSG:999999': not a coordinate reference system"):
        import_inp(wntr_network_path("Net1.inp"), crs="EPSG:999999")


def test_gis_shapefile_without_prj(tmp_path, net1_ky):
    gis = tmp_path / "gis"
    gis.mkdir()
    frame = gpd.GeoDataFrame({"name": ["10", "11"]}, geometry=[Point(20, 70), Point(30, 70)], crs="EPSG:3547")
    frame.to_file(gis / "net1_junctions.shp")
    (gis / "net1_junctions.prj").unlink()
    with pytest.raises(SourceError) as caught:
        import_inp(net1_ky, crs="EPSG:3547", gis_dir=gis)
    message = str(caught.value)
    assert message.startswith(f"{gis / 'net1_junctions.shp'}: layer has no CRS (the shapefile has no .prj)")


def test_missing_gis_folder(tmp_path, net1_ky):
    with pytest.raises(SourceError, match="no such GIS folder"):
        import_inp(net1_ky, crs="EPSG:3547", gis_dir=tmp_path / "absent")


def _write_raster(path, data, nodata=-9999.0, crs="EPSG:3547"):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, nodata=nodata,
                       transform=Affine(100, 0, 0, 0, -100, 1000)) as dst:
        dst.write(data.astype("float32"), 1)


def test_dem_all_nodata(tmp_path, net1_ky):
    dem = tmp_path / "empty.tif"
    _write_raster(dem, np.full((5, 5), -9999.0))
    with pytest.raises(SourceError, match=f"^{dem}: raster has no data \\(every cell is nodata\\)$"):
        import_inp(net1_ky, crs="EPSG:3547", dem=dem)


def test_missing_dem(tmp_path, net1_ky):
    with pytest.raises(SourceError, match="absent.tif: no such DEM file"):
        import_inp(net1_ky, crs="EPSG:3547", dem=tmp_path / "absent.tif")


def test_micropolis_folder_errors(tmp_path):
    with pytest.raises(SourceError, match="no such Micropolis folder"):
        import_micropolis(tmp_path / "absent")
    with pytest.raises(SourceError, match="expected one EPANET .inp file"):
        import_micropolis(tmp_path)
    shutil.copy(BAD_NETWORKS / "bad_values.inp", tmp_path / "city.inp")
    with pytest.raises(SourceError, match="no gis/ folder"):
        import_micropolis(tmp_path)
    (tmp_path / "gis").mkdir()
    with pytest.raises(SourceError, match=r"city.inp: EPANET 2.3 cannot open the network: Error 203: .*\(line 56: "):
        import_micropolis(tmp_path)


def test_micropolis_rejects_a_crs_not_in_feet(tmp_path):
    (tmp_path / "city.inp").write_text("[TITLE]\n[END]\n")
    (tmp_path / "gis").mkdir()
    with pytest.raises(SourceError, match="coordinates are in feet; give the projected CRS in feet"):
        import_micropolis(tmp_path, crs="EPSG:4326")
    with pytest.raises(SourceError, match="not EPSG:3546"):
        import_micropolis(tmp_path, crs="EPSG:3546")


def test_cli_bad_inp_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "out.gpkg"
    bad = BAD_NETWORKS / "bad_syntax.inp"
    status = main(["import", "inp", str(bad), "--crs", "EPSG:3547", "-o", str(out)])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"lifeline-twin import: error: {bad}: EPANET 2.3 cannot open the network: "
                        "Error 299: invalid section keyword [FOO]: section contents ignored. (line 330: [FOO])")
    assert not out.exists()


def test_cli_nodata_dem_is_one_line_and_exit_2(tmp_path, capsys, net1_ky):
    dem = tmp_path / "empty.tif"
    _write_raster(dem, np.full((4, 4), -9999.0))
    status = main(["import", "inp", str(net1_ky), "--crs", "EPSG:3547",
                   "--dem", str(dem), "-o", str(tmp_path / "o.gpkg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err == [f"lifeline-twin import: error: {dem}: raster has no data (every cell is nodata)"]


def test_cli_missing_micropolis_folder(tmp_path, capsys):
    status = main(["import", "micropolis", str(tmp_path / "nope"), "-o", str(tmp_path / "m.gpkg")])
    assert status == 2
    assert capsys.readouterr().err.strip() == \
        f"lifeline-twin import: error: {tmp_path / 'nope'}: no such Micropolis folder"


@pytest.mark.parametrize("crs, says", [
    # Kentucky feet declared as degrees: not a longitude/latitude at all.
    ("EPSG:4326", "e.g. (4.96002e+06, 3.90007e+06) is no longitude and latitude on Earth"),
    # The wrong projection: the feet land in the Atlantic, far outside UTM 16N's strip.
    ("EPSG:32616", "(WGS 84 / UTM zone 16N: lon -90..-84, lat 0..84)"),
])
def test_cli_wrong_crs_is_named_and_writes_nothing(tmp_path, capsys, net1_ky, crs, says):
    out = tmp_path / "out.gpkg"
    status = main(["import", "inp", str(net1_ky), "--crs", crs, "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith(f"lifeline-twin import: error: {net1_ky}: 11 of 11 coordinates lie outside "
                             f"the area of use of --crs {crs} ")
    assert says in err[0]
    assert not out.exists()


def test_wrong_crs_never_touches_an_existing_project(tmp_path, net1_ky):
    out = tmp_path / "net1.gpkg"
    assert main(["import", "inp", str(net1_ky), "--crs", "EPSG:3547", "-o", str(out)]) == 0
    before = out.read_bytes()
    assert main(["import", "inp", str(net1_ky), "--crs", "EPSG:2264", "-o", str(out)]) == 2
    assert out.read_bytes() == before


def test_schematic_network_in_a_local_frame(wntr_network_path):
    """Net1's coordinates are no place on the earth: EPSG:3547 is refused, local:ft scales them to metres."""
    with pytest.raises(SourceError, match=r"Net1.inp: 11 of 11 coordinates lie outside the area of use of "
                                          r"--crs EPSG:3547 .* use --crs local:m, local:ft or local:ftUS\)$"):
        import_inp(wntr_network_path("Net1.inp"), crs="EPSG:3547")
    twin, report = import_inp(wntr_network_path("Net1.inp"), crs="local:ft")
    assert twin.crs.is_engineering and twin.crs.axis_info[0].unit_name == "metre"
    wn = wntr.network.read_inpfile(str(wntr_network_path("Net1.inp")))
    x, y = wn.get_node("22").coordinates
    point = twin["water_junctions"].set_index("id").geometry["22"]
    assert (point.x, point.y) == pytest.approx((x * 0.3048, y * 0.3048))
    assert "coordinates are in a local frame (local:ft): scaled by 0.3048 to metres, origin kept" in report.notes
    assert twin.count("water_pipes") == 12
    with pytest.raises(SourceError, match=r"^--to-crs EPSG:3546: a network in a local frame"):
        import_inp(wntr_network_path("Net1.inp"), crs="local:ft", to_crs="EPSG:3546")


def test_cli_folder_as_network_and_unwritable_output(tmp_path, capsys, net1_ky):
    assert main(["import", "inp", str(tmp_path), "--crs", "EPSG:3547", "-o", str(tmp_path / "o.gpkg")]) == 2
    assert capsys.readouterr().err == (f"lifeline-twin import: error: {tmp_path}: is a folder, "
                                       "not an EPANET .inp file\n")
    (tmp_path / "out.gpkg").mkdir()
    assert main(["import", "inp", str(net1_ky), "--crs", "EPSG:3547", "-o", str(tmp_path / "out.gpkg")]) == 2
    assert capsys.readouterr().err == (f"lifeline-twin import: error: {tmp_path / 'out.gpkg'}: is a folder; "
                                       "a file is expected here\n")
    assert (tmp_path / "out.gpkg").is_dir() and not any((tmp_path / "out.gpkg").iterdir())


def test_empty_binary_and_non_metric_target_are_named(tmp_path, net1_ky):
    empty = tmp_path / "empty.inp"
    empty.write_text("")
    with pytest.raises(SourceError, match=r"empty\.inp: holds no network \(no junctions, reservoirs or tanks\): "
                                          r"not an EPANET \.inp file\?$"):
        import_inp(empty, crs="EPSG:3547")
    binary = tmp_path / "model.inp"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(SourceError, match=r"model\.inp: not an EPANET \.inp file \(binary content, not text\)$"):
        import_inp(binary, crs="EPSG:3547")
    with pytest.raises(SourceError, match=r"^--to-crs EPSG:4326: the twin's CRS must be projected in metres "
                                          r"\(EPSG:4326 is not\); e\.g\. EPSG:3546$"):
        import_inp(net1_ky, crs="EPSG:3547", to_crs="EPSG:4326")


def test_a_file_where_a_folder_is_wanted(tmp_path, net1_ky):
    with pytest.raises(SourceError, match=r"Net1\.inp: is a file; give the Micropolis folder"):
        import_micropolis(net1_ky)
    with pytest.raises(SourceError, match=r"Net1\.inp: --gis-dir is a file; give the folder holding"):
        import_inp(net1_ky, crs="EPSG:3547", gis_dir=net1_ky)


def test_a_stray_node_is_warned_not_refused(tmp_path, net1_ky):
    """One node left at 0,0 is a data problem to report; the CRS is still right for the other ten."""
    text = net1_ky.read_text().splitlines()
    at = next(i for i, line in enumerate(text) if line.split()[:1] == ["22"] and len(line.split()) == 3)
    text[at] = " 22  0.0  0.0"
    stray = tmp_path / "stray.inp"
    stray.write_text("\n".join(text) + "\n")
    twin, report = import_inp(stray, crs="EPSG:3547")
    assert twin.count("water_junctions") == 9
    assert ("1 of 11 nodes lie outside the area of use of EPSG:3547 (misplaced, e.g. left at 0,0?): 22"
            in report.warnings)
