      * CUSTOMER ORDER WITH A VARIABLE NUMBER OF LINES
       01  ORDER-REC.
           05  ORD-ID               PIC X(10).
           05  ORD-CUSTOMER         PIC 9(08)     COMP-5.
           05  ORD-LINE-COUNT       PIC S9(04)    COMP SYNC.
           05  ORD-LINES            OCCURS 1 TO 5 TIMES
                                    DEPENDING ON ORD-LINE-COUNT
                                    ASCENDING KEY IS ORD-SKU
                                    INDEXED BY ORD-IX.
               10  ORD-SKU          PIC X(08).
               10  ORD-QTY          PIC S9(05)    COMP-3.
               10  ORD-PRICE        PIC 9(05)V99  COMP-3.
           05  ORD-TOTAL            PIC S9(09)V99 COMP-3.
