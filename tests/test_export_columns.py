"""Which columns an export changes: contractual dates never."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pytest

from tracer import ExportRequest, Home, export, init
from tracer.synthdata import make_customers, write_csv


@pytest.mark.parametrize("header", ["证件有效期", "有效期至", "贷款到期日", "maturity_date", "valid_until"])
def test_contractual_dates_are_never_marked(tmp_path, header):
    """A date the recipient acts on to the day (an ID's expiry, a loan's
    maturity) keeps its value; the account-opening date beside it is marked."""
    table = make_customers(600, seed=5)
    opened = table.column("开户日期")
    table = table.append_column(header, opened)
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    notes = {c.name: c.note for c in r.columns}
    assert notes[header] == "contractual date: never marked"
    out = pacsv.read_csv(tmp_path / "o.csv", convert_options=pacsv.ConvertOptions(
        column_types={header: pa.string(), "开户日期": pa.string(), "客户号": pa.string()}))
    real = out.filter(pa.compute.is_in(out.column("客户号"), table.column("客户号")))
    moved = [a != b for a, b in zip(real.column(header).to_pylist(), real.column("开户日期").to_pylist())]
    assert any(moved)  # the same dates, marked in 开户日期 only
    by_id = dict(zip(table.column("客户号").to_pylist(), opened.to_pylist()))
    assert all(by_id[k] == v for k, v in zip(real.column("客户号").to_pylist(), real.column(header).to_pylist()))
