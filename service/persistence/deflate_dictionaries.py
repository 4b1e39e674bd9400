"""Preset deflate dictionaries for stored deliveries, one per event format that uses one.

A body of a few hundred bytes is mostly keys and recurring values that deflate cannot find
repeated within the body itself; primed with these, it finds them here instead. The strings
come from Ingresse's ticket webhook (`tests/fixtures/`), spaced and compact, group fields
first and the ticket's last: deflate reaches nearer strings with shorter codes.

Never edit a dictionary: every event stored with it needs the exact bytes to be read again
(a test pins each one's digest). A better dictionary is a new event format with its own.
"""

from __future__ import annotations

FORMAT_3 = (
    b'"passkeys":[],"Group","Grupo de Ingressos","description":null,"parent":null,'
    b'"timezone":"America/Sao_Paulo"},"taxDistribution":100},'
    b'{"webhook": "ticket", "data": {"id": , "name": "", "description": "", "eventId": , '
    b'"type": "Ticket", "eventDates": [{"id": , "datetime": "T:00:00-03:00", "timezone": '
    b'"America/Sao_Paulo"}], "attributes": {"maximum": 0, "minimum": 0, "canArchive": true, '
    b'"external": false}, "quantity": , "parent": , "children": [], "salePeriods": [{"id": , '
    b'"appCategoryId": 1, "start": "", "finish": "", "available": true}], "hidden": false, '
    b'"available": true, "order": 1, "value": {"price": , "finalPrice": , "feeSale": , '
    b'"feeProducer": 0, "taxDistribution": 100}, "triggers": {"soldout": [], "start": []}, '
    b'"archived": false, "customTax": false, "salable": true, "quantityDiff": 0}, '
    b'"timestamp": "T::.'
    b'{"webhook":"ticket","data":{"id":,"name":"Ingresso - ","description":"","eventId":'
    b',"type":"Ticket","eventDates":[{"id":,"datetime":"T:00:00-03:00",'
    b'"timezone":"America/Sao_Paulo"}],'
    b'"attributes":{"maximum":0,"minimum":0,"canArchive":true,"external":false},"quantity":'
    b',"parent":,"children":[],"salePeriods":[{"id":,"appCategoryId":1,"start":"T:00:00-03:00",'
    b'"finish":"T:00:00-03:00","available":true}],"hidden":false,"available":true,"order":1,'
    b'"value":{"price":,"finalPrice":,"feeSale":1,"feeProducer":0,"taxDistribution":100},'
    b'"triggers":{"soldout":[],"start":[]},"archived":false,"customTax":false,"salable":true,'
    b'"quantityDiff":-1},"timestamp":"T::.000000"}'
    # The header that opens a format 3 plaintext: received time, source time, source text.
    b'["T::.+00:00","T::+00:00","T::.000000"]\n{"webhook":"ticket","data":{"id":'
)
