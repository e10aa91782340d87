"""Uses the client openapi-python-client generated from the served document, as a team would.

    python drive_client.py BASE_URL TOKEN     (the generated `gateway_client` on PYTHONPATH)

whoami; a 600-number check created, polled until it ends and every result page read; a session
reserved and its QR PNG downloaded and decoded. Any unexpected answer stops the run with the
status and body.
"""

import sys
import time
from http import HTTPStatus

import png
from gateway_client import AuthenticatedClient
from gateway_client.api.identity import whoami
from gateway_client.api.number_checks import create_job, get_job, get_results
from gateway_client.api.sessions import create_session, session_qr_png
from gateway_client.models import Check, CreateNumberCheck, JobStatus, NewSession, PortType

NUMBERS = [f"+91 98765 4{i:04d}" for i in range(600)]
PAGE_SIZE = 100
TERMINAL = {JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED}
# Bounds the wait for the job (not a timing assertion: the job's own status decides).
MAX_POLLS = 600
POLL_INTERVAL_S = 0.2


def expect(response, *statuses):
    if response.status_code not in statuses:
        sys.exit(
            f"expected {' or '.join(str(int(s)) for s in statuses)}, got {int(response.status_code)}: "
            f"{response.content.decode(errors='replace')}"
        )
    return response.parsed


def check_whoami(client):
    me = expect(whoami.sync_detailed(client=client), HTTPStatus.OK)
    scopes = {str(s) for s in me.scopes}
    assert me.tenant == "demo", me.tenant
    assert {"numbers:check", "numbers:read", "sessions:write"} <= scopes, scopes
    print(f"whoami: tenant {me.tenant}, {len(scopes)} scopes")


def run_number_check(client):
    body = CreateNumberCheck(checks=[Check.REGISTERED], numbers=NUMBERS)
    job = expect(
        create_job.sync_detailed(client=client, body=body, idempotency_key="contract-run-600"),
        HTTPStatus.OK,
        HTTPStatus.ACCEPTED,
    )
    polls = 0
    while job.status not in TERMINAL:
        polls += 1
        if polls > MAX_POLLS:
            sys.exit(f"job {job.id} still {job.status} after {MAX_POLLS} polls")
        time.sleep(POLL_INTERVAL_S)
        job = expect(get_job.sync_detailed(job.id, client=client), HTTPStatus.OK)
    if job.status != JobStatus.COMPLETED:
        sys.exit(f"job {job.id} ended {job.status}: errors {job.errors}")
    assert job.progress.total == len(NUMBERS), job.progress
    print(f"number check {job.id}: {job.status} after {polls} polls")
    read_all_pages(client, job.id)


def read_all_pages(client, job_id):
    seen, pages, cursor = set(), 0, None
    while True:
        kwargs = {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
        page = expect(get_results.sync_detailed(job_id, client=client, **kwargs), HTTPStatus.OK)
        pages += 1
        seen.update(item.number for item in page.items)
        cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
        if not cursor:
            break
    if len(seen) != len(NUMBERS):
        sys.exit(f"results: {len(seen)} distinct numbers in {pages} pages, expected {len(NUMBERS)}")
    print(f"results: {len(seen)} numbers in {pages} pages")


def download_qr(client):
    session = expect(
        create_session.sync_detailed(client=client, body=NewSession(port_type=PortType.PC)),
        HTTPStatus.CREATED,
    )
    file = expect(session_qr_png.sync_detailed(session.id, client=client), HTTPStatus.OK)
    width, height, rows, info = png.Reader(bytes=file.payload.read()).read()
    pixels = [value for row in rows for value in row]
    assert width == height and width >= 21, (width, height)
    assert len(set(pixels)) >= 2, "the QR image is blank"
    print(f"qr: session {session.id}, {width}x{height} PNG, {info.get('planes')} plane(s), decoded")


def main():
    base_url, token = sys.argv[1], sys.argv[2]
    with AuthenticatedClient(base_url=base_url, token=token, timeout=30.0) as client:
        check_whoami(client)
        run_number_check(client)
        download_qr(client)


if __name__ == "__main__":
    main()
