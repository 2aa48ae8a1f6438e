"""Every export format by its ``--format`` name: the JSONL, CSV and HTML writers
(writers.py), Actiance XML (actiance.py) and Global Relay EML (globalrelay.py).

Format options (ExportOptions.format_options, recorded in the resume state):
  email_domain   the domain of participants' addresses (Actiance CorporateEmailID, EML
                 From/To): <username>@<domain>; default chatsvc.invalid
  eml_max_bytes  Global Relay: the largest e-mail's parts (batching); default 25 MiB
  smtp, smtp_to, smtp_from   Global Relay: deliver each e-mail by SMTP (host:port) to
                 smtp_to, envelope sender smtp_from
"""
from chatsvc.export.actiance import ActianceWriter
from chatsvc.export.globalrelay import GlobalRelayWriter
from chatsvc.export.writers import WRITERS as _BASIC

WRITERS = {**_BASIC, ActianceWriter.format: ActianceWriter, GlobalRelayWriter.format: GlobalRelayWriter}
