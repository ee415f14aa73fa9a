"""Design storms: the Chicago hyetograph holds the IDF depth; gauge records; bad input named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.drainage.storm import BEIJING_I, Hyetograph, IntensityFormula, chicago_storm, read_gauge_csv


@pytest.mark.parametrize("r", [0.0, 0.25, 0.4, 0.5, 1.0])
@pytest.mark.parametrize("duration, step", [(60, 1), (120, 5), (180, 2.5)])
def test_total_depth_is_the_idf_depth(r, duration, step):
    storm = chicago_storm(BEIJING_I, 5, duration, r, step)
    idf = BEIJING_I.intensity(duration, 5) * duration
    assert storm.depth_mm == pytest.approx(float(idf), abs=1e-6)
    assert len(storm.values) == int(round(duration / step))
    assert (storm.values >= 0).all()


def test_peak_sits_at_r_and_every_window_around_it_holds_its_idf_depth():
    storm = chicago_storm(BEIJING_I, 10, 120, 0.4, 1)
    assert int(np.argmax(storm.values)) in (47, 48)  # the peak at 0.4 x 120 = 48 min
    # 20 minutes around the peak (8 before, 12 after): the IDF depth of 20 minutes
    window = storm.values[48 - 8:48 + 12].sum() / 60.0
    assert window == pytest.approx(float(BEIJING_I.depth(20, 10)), rel=1e-9)


def test_formula_forms_agree_and_values_are_beijings():
    f = IntensityFormula.from_q(2001.0, 0.811, 8.0, 0.711)
    assert f.A1 == pytest.approx(2001.0 / 167.0)
    # q = 167 i: 5-year, 10-minute intensity
    q = 2001.0 * (1 + 0.811 * math.log10(5)) / (10 + 8) ** 0.711
    assert 167.0 * float(f.intensity(10, 5)) == pytest.approx(q, rel=1e-12)
    assert q == pytest.approx(401.587, abs=0.001)


def test_swmm_timeseries_rows_close_with_zero():
    storm = Hyetograph((12.0, 36.0), 60.0, 0.0, "s")
    assert storm.swmm_timeseries() == ["s                0.000000 12.000000", "s                0.016667 36.000000",
                                       "s                0.033333 0.0"]
    assert storm.depth_mm == pytest.approx(0.8)


def test_gauge_csv_in_depths_and_in_intensities(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("time,depth_mm\n2026-07-01T08:00:00Z,0.5\n2026-07-01T08:05:00Z,1.5\n2026-07-01T08:10:00Z,0\n")
    start = 1782892800.0  # 2026-07-01T08:00:00Z
    g = read_gauge_csv(a, start=start)
    assert g.step_s == 300.0 and g.start_s == 0.0
    np.testing.assert_allclose(g.values, [6.0, 18.0, 0.0])
    assert g.depth_mm == pytest.approx(2.0)
    b = tmp_path / "b.csv"
    b.write_text("time,intensity_mm_h\n0,10\n10,20\n")
    g = read_gauge_csv(b)
    assert g.step_s == 600.0 and g.depth_mm == pytest.approx(5.0)


@pytest.mark.parametrize("make, message", [
    (lambda: Hyetograph((1.0, 2.0, -1.0), 60.0), "rain: intensity at step 2 is negative (-1 mm/h)"),
    (lambda: Hyetograph((1.0, float("nan")), 60.0), "rain: intensity at step 1 is not a number (NaN)"),
    (lambda: chicago_storm(BEIJING_I, 5, 120, 1.5), "design storm: peak position r must be between 0 and 1, not 1.5"),
    (lambda: chicago_storm(BEIJING_I, 5, 120, -0.1), "design storm: peak position r must be >= 0, not -0.1"),
    (lambda: chicago_storm(BEIJING_I, float("nan"), 120),
     "design storm: return period P must be a finite number, not nan"),
    (lambda: chicago_storm(BEIJING_I, 5, 120, 0.4, 7),
     "design storm: time step 7 min does not divide the duration 120 min"),
    (lambda: IntensityFormula(-1.0, 0.8, 8, 0.7), "design storm: A1 must be > 0, not -1"),
    (lambda: IntensityFormula(12.0, 0.8, float("nan"), 0.7), "design storm: b must be a finite number, not nan"),
])
def test_bad_storms_are_refused_naming_the_field(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value) == message


def test_bad_gauge_record_names_the_row(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("time,intensity_mm_h\n0,1\n5,-2\n")
    with pytest.raises(ValueError) as err:
        read_gauge_csv(f)
    assert str(err.value) == f"{f}: intensity_mm_h at row 2 is negative (-2)"
