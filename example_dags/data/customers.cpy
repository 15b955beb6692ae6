      * Customer master record, RECFM=FB LRECL=50.
       01  CUSTOMER-RECORD.
           05  CUST-ID             PIC 9(6).
           05  CUST-NAME           PIC X(20).
           05  BALANCE             PIC S9(7)V99 COMP-3.
           05  VISITS              PIC S9(4) COMP.
           05  LAST-AMOUNT         PIC S9(5)V99.
           05  OPENED-YEAR         PIC 9(4).
           05  SEGMENT-CODE        PIC X(1).
           05  FILLER              PIC X(5).
