"""TLS for the Web Connector, the way README's "Running in production" says: the shipped nginx config
(deploy/nginx-qbedi.conf) in front of a real `qbedi serve`, a certificate the client trusts, a whole Web
Connector session over https. Needs nginx (`.ci/run` installs Debian's nginx-light)."""
from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from fakes.qbwc_simulator import QBWCSimulator
from tests.support import REPO
from tests.support.builders import PASSWORD, make_quickbooks, wait_for, write_config, x12_file
from tests.support.processes import free_port, serving

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs nginx-light)")


def _certificate(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbedi.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("qbedi.test"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def _nginx_conf(tmp_path, crt, key, tls_port, http_port, qbedi_port) -> str:
    server = (REPO / "deploy" / "nginx-qbedi.conf").read_text()
    server = (server.replace("/etc/letsencrypt/live/qbedi.example.com/fullchain.pem", str(crt))
              .replace("/etc/letsencrypt/live/qbedi.example.com/privkey.pem", str(key))
              .replace("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;")
              .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
              .replace("http://127.0.0.1:8080", f"http://127.0.0.1:{qbedi_port}")
              .replace("qbedi.example.com", "qbedi.test"))
    for tmp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / tmp).mkdir(exist_ok=True)
    return (f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
            f"access_log {tmp_path}/access.log;\nclient_body_temp_path {tmp_path}/client_body;\n"
            f"proxy_temp_path {tmp_path}/proxy;\nfastcgi_temp_path {tmp_path}/fastcgi;\n"
            f"uwsgi_temp_path {tmp_path}/uwsgi;\nscgi_temp_path {tmp_path}/scgi;\n{server}\n}}\n")


def test_a_web_connector_session_over_https_through_the_shipped_nginx_config(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    data = yaml.safe_load(cfg.read_text())
    data["web_connector"]["trusted_proxies"] = ["127.0.0.1"]
    cfg.write_text(yaml.safe_dump(data))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    crt, key = _certificate(tmp_path)
    tls_port, http_port = free_port(), free_port()
    with serving("run", cfg) as run:
        conf = tmp_path / "nginx.conf"
        conf.write_text(_nginx_conf(tmp_path, crt, key, tls_port, http_port, run.port))
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path),
                                  "-g", "daemon off; user root;"], stderr=subprocess.PIPE, text=True)
        try:
            https = requests.Session()
            https.verify = str(crt)  # the certificate the QuickBooks machine would trust
            https.trust_env = False  # (else $REQUESTS_CA_BUNDLE would replace it)
            base = f"https://127.0.0.1:{tls_port}"

            def up():
                try:
                    return https.get(base + "/health", timeout=1).text.strip() == "ok"
                except requests.ConnectionError:
                    return nginx.poll() is not None

            assert wait_for(up, 20) and nginx.poll() is None, nginx.stderr.read() if nginx.poll() is not None else ""
            assert b"sendRequestXML" in https.get(base + "/qbwc?wsdl", timeout=5).content
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(base + "/health", timeout=5, verify=True)  # a certificate the client does not trust: refused
            plain = requests.get(f"http://127.0.0.1:{http_port}/qbwc", timeout=5, allow_redirects=False)
            assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

            assert wait_for(lambda: (tmp_path / "inbox" / "processed" / "a.edi").exists(), 30)
            qb = make_quickbooks(accounts=("Job Materials", "Janitorial Supplies", "Freight and Delivery"))
            sim = QBWCSimulator(base + "/qbwc", "clerk", PASSWORD, qb, http=https)
            for _ in range(3):
                sim.run()
                if qb.bills:
                    break
                time.sleep(0.5)
            assert [b.ref_number for b in qb.bills] == ["INV-10045"]
        finally:
            nginx.terminate()
            nginx.wait(10)
        code, out = run.stop()
    assert code == 0
